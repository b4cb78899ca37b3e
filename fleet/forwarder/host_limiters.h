// HostLimiters: the forwarder's window onto this host's global limiters
// (the seam between the refresh logic and the segment, so that the logic is
// tested with a fake). The real one (segment_limiters.cc) goes through
// sluice::admin's share.h. Not thread-safe.
#ifndef SLUICE_FLEET_FORWARDER_HOST_LIMITERS_H_
#define SLUICE_FLEET_FORWARDER_HOST_LIMITERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/admin/share.h"
#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice::fleet {

// What the forwarder reads of one global limiter (from admin::FleetFigures).
// Times are this host's CLOCK_MONOTONIC nanoseconds.
struct LimiterFigures {
  Algorithm algorithm = Algorithm::kSliding;
  double demand = 0;  // permits asked per second (denied ones included)
  // The host's counter of permits asked (denied ones included), when it has
  // one: the forwarder measures demand from it over its own, longer span
  // (the library's `demand` covers the last ~100 ms: a handful of asks).
  bool has_asked = false;
  uint64_t asked = 0;
  uint64_t in_force = 0;  // the amount in force now
  uint64_t cap = 0;       // the budget file's amount (0: none)
  admin::Share share;     // as last published
  int64_t drained_ns = 0;
};

using admin::AmountOf;  // the amount of a spec: gcra rate, limit, holders

class HostLimiters {
 public:
  virtual ~HostLimiters() = default;
  // The host's CLOCK_MONOTONIC.
  virtual int64_t Now() = 0;
  virtual StatusOr<LimiterFigures> Read(const std::string& name) = 0;
  // admin::PublishShare's errors (kExists: an older epoch than in force).
  virtual Status Publish(const std::string& name, const admin::Share& share) = 0;
};

// Over a segment mapped read-write (segment_limiters.cc; needs the admin
// library's share implementation).
std::unique_ptr<HostLimiters> SegmentLimiters(const std::string& ns, Status* status);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_FORWARDER_HOST_LIMITERS_H_
