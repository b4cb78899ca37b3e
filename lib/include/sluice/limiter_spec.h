// LimiterSpec: the parameters of one named limiter, as written in a budget
// file's [limiters.NAME] table or passed to sluice_define().
#ifndef SLUICE_LIMITER_SPEC_H_
#define SLUICE_LIMITER_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/export.h"
#include "sluice/status.h"

namespace sluice {

enum class Algorithm : uint32_t {
  kGcra = 1,     // rate per period with burst
  kWindow = 2,   // at most limit per aligned fixed window
  kSliding = 3,  // at most limit in any interval of length window
  kLease = 4,    // at most holders at once, each for ttl unless released
};

// "gcra", "window", "sliding", "lease"; nullptr for an unknown value.
SLUICE_EXPORT const char* AlgorithmName(Algorithm a);
SLUICE_EXPORT std::optional<Algorithm> ParseAlgorithm(std::string_view name);

// Limits on parameters (validation rejects anything outside them).
constexpr int kMaxNameLength = 63;
constexpr int64_t kMinDurationNs = 1000;                                   // 1 us
constexpr int64_t kMaxDurationNs = int64_t{366} * 24 * 3600 * 1000000000;  // 366 days
constexpr uint64_t kMaxRate = uint64_t{1} << 40;
constexpr uint64_t kMaxWindowLimit = (uint64_t{1} << 24) - 1;  // packed counter
constexpr uint64_t kMaxSlidingLimit = uint64_t{1} << 20;       // one word per permit
constexpr uint64_t kMaxHolders = uint64_t{1} << 16;

// Plain value type. Only the fields of `algorithm` are meaningful.
struct SLUICE_EXPORT LimiterSpec {
  Algorithm algorithm = Algorithm::kGcra;
  // gcra: `rate` permits per `period_ns`, bursts of up to `burst`.
  uint64_t rate = 0;
  int64_t period_ns = 0;
  uint64_t burst = 1;
  // window and sliding: `limit` permits per `window_ns`.
  uint64_t limit = 0;
  int64_t window_ns = 0;
  // lease: `holders` at once, each expiring `ttl_ns` after grant or renewal.
  uint64_t holders = 0;
  int64_t ttl_ns = 0;
  // lease: a holder that died gives its lease back before ttl (true suits
  // mutual exclusion; false suits rate limits: a sent request keeps counting).
  bool reclaim = false;
  // Fleet-wide limiter whose local share comes from the allotter. Until an
  // allocation arrives the host runs on `limit`/`rate` as its safe share.
  bool global = false;

  static LimiterSpec Gcra(uint64_t rate, int64_t period_ns, uint64_t burst);
  static LimiterSpec Window(uint64_t limit, int64_t window_ns);
  static LimiterSpec Sliding(uint64_t limit, int64_t window_ns);
  static LimiterSpec Lease(uint64_t holders, int64_t ttl_ns, bool reclaim);

  // Checks ranges and required fields; messages name the offending key.
  Status Validate() const;
  // Budget-file syntax (TOML keys, one per line), parseable by ParseSpec.
  std::string ToToml() const;
  // One line for listings: "sliding limit=5 window=800ms".
  std::string Describe() const;
  // The permits one caller can ever get at once (burst, limit or holders).
  uint64_t Capacity() const;
  // OK if `permits` can ever be granted at once (1..Capacity()); else
  // kInvalidArgument saying so ("N permits can never be granted by ...").
  Status CheckPermits(uint64_t permits) const;

  bool operator==(const LimiterSpec&) const = default;
};

// Parses a limiter's table in budget-file syntax, e.g.
//   "algorithm=\"sliding\"\nlimit=5\nwindow=\"800ms\"".
// Unknown keys, wrong types and bad values are errors; messages read
// "<source>:LINE:COL: message".
SLUICE_EXPORT StatusOr<LimiterSpec> ParseSpec(std::string_view toml,
                                              std::string_view source = "spec");

// Checks a limiter or namespace name: 1..63 chars of [A-Za-z0-9_.-], not
// starting with '.' or '-'.
SLUICE_EXPORT Status ValidateName(std::string_view name, const char* what);

}  // namespace sluice

#endif  // SLUICE_LIMITER_SPEC_H_
