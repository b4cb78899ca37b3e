// Fleet shares: the host side of the fleet guarantee (docs/fleet.md).
//
// A `global = true` limiter keeps its algorithm and shape (gcra period,
// window/sliding window, lease ttl/reclaim) from the budget file; its amount
// (gcra rate and burst, window/sliding limit, lease holders) comes from a
// share, published here by sluice-forwarder or `sluicectl share`. The library
// enforces it on the decision path: while now < expires_ns the share holds,
// then the fallback until fallback_until_ns, then 0. Before any share the
// amount is 0 (fail closed). An amount in the budget file is a local cap.
//
// Not part of the worker ABI: the forwarder and sluicectl link sluice::admin.
#ifndef SLUICE_ADMIN_SHARE_H_
#define SLUICE_ADMIN_SHARE_H_

#include <cstdint>
#include <string_view>

#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice::admin {

constexpr int64_t kForever = INT64_MAX;

// What a share says. Times are this host's CLOCK_MONOTONIC nanoseconds.
struct Share {
  uint64_t amount = 0;            // gcra: rate per period; window/sliding: limit; lease: holders
  uint64_t burst = 0;             // gcra only; 0: the cap's burst scaled by amount/cap rate (>= 1)
  int64_t expires_ns = kForever;  // the share holds while now < expires_ns
  uint64_t fallback_amount = 0;   // then this amount ...
  uint64_t fallback_burst = 0;    // (gcra; 0: scaled like burst)
  int64_t fallback_until_ns = 0;  // ... while now < fallback_until_ns; then 0
  uint64_t epoch = 0;             // the allotter's epoch; never moves back
};

// The amount a share of `spec`'s limiter carries: gcra rate, window/sliding
// limit, lease holders.
uint64_t AmountOf(const LimiterSpec& spec);

// Which amount is in force.
enum class ShareStage {
  kNone,      // no share has arrived: amount 0
  kShare,     // the share, until expires_ns
  kFallback,  // the share lapsed: the fallback amount, until fallback_until_ns
  kLapsed,    // share and fallback lapsed: amount 0
};
const char* ShareStageName(ShareStage s);  // "none", "share", "fallback", "lapsed"

// Publishes `share` for global limiter `name` of `seg` (mapped read-write).
// Errors (nothing changes): kNotFound (no such limiter), kInvalidArgument
// (not a global limiter; an amount above the algorithm's maximum; a
// fallback that ends before the share), kExists when share.epoch is lower
// than the epoch in force (a stale allotter), kPermission on a read-only
// mapping. Amounts above the budget file's cap are cut to it.
Status PublishShare(const Segment& seg, std::string_view name, const Share& share);

// The figures the forwarder reports to the allotter, per global limiter.
struct FleetFigures {
  ShareStage stage = ShareStage::kNone;
  LimiterSpec spec;        // in force now (amount cut to the cap; 0 when closed)
  uint64_t cap = 0;        // the budget file's amount (0: no cap)
  Share share;             // as last published (amount/burst after the cap)
  uint64_t epoch = 0;      // of the share in force
  int64_t drained_ns = 0;  // from this time on the host cannot be using more
                           // than the amount in force (docs/fleet.md)
  uint64_t asked = 0;      // permits asked, denied ones included (counter)
  uint64_t granted = 0;    // permits granted (counter)
  double demand = 0;       // permits asked per second, last interval
  uint64_t changes = 0;    // parameter changes published so far
};
// kNotFound, or kInvalidArgument when `name` is not a global limiter.
StatusOr<FleetFigures> ReadFleet(const Segment& seg, std::string_view name);

}  // namespace sluice::admin

#endif  // SLUICE_ADMIN_SHARE_H_
