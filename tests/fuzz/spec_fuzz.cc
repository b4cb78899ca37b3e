// libFuzzer target: limiter specs, the text of sluice_define().
// Input: one byte choosing the limiter name, then the spec text.
// Properties: ParseSpec never crashes; an accepted spec validates and
// round-trips through ToToml; sluice_define of the same text on a real
// segment returns a documented code (never SLUICE_EINTERNAL) and the
// limiter it returns decides. A full arena starts a fresh segment.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "sluice/limiter_spec.h"
#include "sluice/sluice.h"

namespace {

sluice_segment* seg = nullptr;

sluice_segment* FreshSegment() {
  if (seg) sluice_close(seg);
  const std::string& ns = sluice::fuzz::ProcessNamespace("spec");
  sluice::Segment::Remove(ns);
  if (sluice_open(ns.c_str(), SLUICE_CREATE, &seg) != SLUICE_OK) std::abort();
  return seg;
}

void CheckSpec(const sluice::LimiterSpec& s) {
  if (!s.Validate().ok()) std::abort();
  sluice::StatusOr<sluice::LimiterSpec> again = sluice::ParseSpec(s.ToToml(), "round-trip");
  if (!again.ok() || !(*again == s)) std::abort();
  (void)s.Describe();
  const uint64_t cap = s.Capacity();
  if (!s.CheckPermits(1).ok() && cap >= 1) std::abort();
  if (s.CheckPermits(0).ok() || s.CheckPermits(cap + 1).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::fuzz::Input in(data, size);
  const std::string name = "lim" + std::to_string(in.Byte() % 64);
  std::string text(in.Rest());
  text.resize(std::strlen(text.c_str()));  // what the C API sees
  sluice::StatusOr<sluice::LimiterSpec> parsed = sluice::ParseSpec(text, "fuzz");
  if (parsed.ok()) CheckSpec(*parsed);

  if (!seg) FreshSegment();
  sluice_limiter* lim = nullptr;
  int rc = sluice_define(seg, name.c_str(), text.c_str(), &lim);
  if (rc == SLUICE_EFULL) {
    FreshSegment();
    rc = sluice_define(seg, name.c_str(), text.c_str(), &lim);
  }
  if (rc == SLUICE_EINTERNAL || rc == SLUICE_ENOMEM) std::abort();
  if (!parsed.ok() && rc != SLUICE_EINVAL) std::abort();
  if (rc == SLUICE_OK) {
    int64_t retry = 0;
    if (sluice_try_acquire(lim, 1, &retry) < 0) std::abort();
  }
  return 0;
}
