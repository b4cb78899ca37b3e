// Offline check of a run's grants against a limiter's guarantee (docs/design.md):
//
//   gcra     in any interval [a, b]: grants <= burst + rate * (b - a) / period
//   sliding  in any interval [a, a + window): grants <= limit
//   window   in each aligned window [k*window, (k+1)*window): grants <= limit
//   lease    anonymous grants (try_acquire, never released) are sliding
//            grants with limit = holders, window = ttl
//
// Used by `sluicectl bench`, the stress tests and the benchmark scripts.
// Pure functions; thread-safe.
#ifndef SLUICE_ADMIN_GUARANTEE_H_
#define SLUICE_ADMIN_GUARANTEE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sluice/limiter_spec.h"

namespace sluice {

// One interval where the bound is exceeded.
struct GuaranteeViolation {
  int64_t start_ns = 0;  // first grant of the interval
  int64_t end_ns = 0;    // last grant of the interval
  uint64_t grants = 0;   // permits granted in [start_ns, end_ns]
  double allowed = 0;    // what the guarantee allows there
};

struct GuaranteeReport {
  uint64_t grants = 0;                       // permits checked
  uint64_t violations = 0;                   // grants that ended an over-limit interval
  double max_excess = 0;                     // the worst grants - allowed
  std::vector<GuaranteeViolation> examples;  // the first few (<= 10)

  bool ok() const { return violations == 0; }
  // "12000 grants, 0 violations of sliding limit=5 window=800ms" plus one
  // line per example.
  std::string Describe(const LimiterSpec& spec) const;
};

// Checks grant times (CLOCK_MONOTONIC ns, e.g. Decision::now_ns) against
// `spec`'s bound. A grant of k permits appears k times. O(n).
// REQUIRES: grant_ns is sorted ascending; spec.Validate() is OK.
GuaranteeReport CheckGuarantee(const LimiterSpec& spec, std::span<const int64_t> grant_ns);

// The greatest number of grants the guarantee allows in a run of
// `duration_ns` (the best achievable count; for bench's "expected" rate).
double MaxGrantsIn(const LimiterSpec& spec, int64_t duration_ns);

}  // namespace sluice

#endif  // SLUICE_ADMIN_GUARANTEE_H_
