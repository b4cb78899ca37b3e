// libFuzzer target: the duration parser and its formatters.
// Properties: ParseDuration never crashes, accepts only values in
// [0, INT64_MAX], and round-trips through FormatDuration; the formatters
// take any int64.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "sluice/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::StatusOr<int64_t> d = sluice::ParseDuration(text);
  if (d.ok()) {
    if (*d < 0) std::abort();
    sluice::StatusOr<int64_t> again = sluice::ParseDuration(sluice::FormatDuration(*d));
    if (!again.ok() || *again != *d) std::abort();
  } else if (d.status().message().empty()) {
    std::abort();
  }
  sluice::fuzz::Input in(data, size);
  const int64_t any = static_cast<int64_t>(in.U64());
  const std::string f = sluice::FormatDuration(any);
  if (any >= 0) {
    sluice::StatusOr<int64_t> back = sluice::ParseDuration(f);
    if (!back.ok() || *back != any) std::abort();
  }
  (void)sluice::FormatDurationShort(any);
  return 0;
}
