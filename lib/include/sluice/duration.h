// Durations: integer nanoseconds everywhere; text form "<integer><unit>" with
// unit one of ns, us, ms, s, m, h (e.g. "800ms", "250us", "1s").
#ifndef SLUICE_DURATION_H_
#define SLUICE_DURATION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/export.h"
#include "sluice/status.h"

namespace sluice {

constexpr int64_t kNanosPerMicro = 1000;
constexpr int64_t kNanosPerMilli = 1000 * kNanosPerMicro;
constexpr int64_t kNanosPerSecond = 1000 * kNanosPerMilli;

// Parses "800ms" into 800000000. Rejects missing or unknown units, signs,
// fractions, whitespace and values that overflow int64 nanoseconds.
SLUICE_EXPORT StatusOr<int64_t> ParseDuration(std::string_view text);

// Formats with the largest unit that represents `ns` exactly: 800000000 ->
// "800ms", 1500 -> "1500ns" ... ParseDuration(FormatDuration(x)) == x.
SLUICE_EXPORT std::string FormatDuration(int64_t ns);

// Human-readable, rounded, for displays: "1.25ms", "3.0s".
SLUICE_EXPORT std::string FormatDurationShort(int64_t ns);

}  // namespace sluice

#endif  // SLUICE_DURATION_H_
