// The inspector: snapshots of a namespace's limiters read from the segment
// mapped read-only, and their text and JSON forms (sluicectl ls / show).
//
// Reading never blocks and never writes: every field is a relaxed load of a
// word the limiters keep up to date, so a snapshot is a consistent view of
// each word, not of the whole segment.
#ifndef SLUICE_ADMIN_INSPECT_H_
#define SLUICE_ADMIN_INSPECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice {

// Fleet limiters: this host's allocation from the allotter and its lease.
enum class AllocationState {
  kNone,     // no allocation has arrived: the host runs on its safe share
  kValid,    // allocation leased until allocation_expires_ns
  kExpired,  // the lease lapsed: back on the safe share
};
const char* AllocationStateName(AllocationState s);  // "none", ...

struct LimiterRow {
  std::string name;  // raw bytes from the segment: escape before printing
  // Non-empty when the slot fails validation (a corrupt segment): why. The
  // row is listed all the same, with spec, stats and level left zero.
  std::string corrupt;
  LimiterSpec spec;
  LimiterStats stats;
  LimiterLevel level;
  uint64_t allocation = 0;            // fleet limiters only
  int64_t allocation_expires_ns = 0;  // CLOCK_MONOTONIC; 0: never set
  AllocationState allocation_state = AllocationState::kNone;
};

struct Snapshot {
  SegmentInfo info;
  int64_t taken_ns = 0;  // CLOCK_MONOTONIC
  std::vector<LimiterRow> rows;
  const LimiterRow* Find(std::string_view name) const;
};

// Read-only view of one namespace. Thread-compatible.
class Inspector {
 public:
  // Maps namespace `ns` read-only (kNotFound if it does not exist).
  static StatusOr<Inspector> Open(std::string_view ns);
  // Reads every live limiter now, corrupt ones included (row.corrupt).
  Snapshot Take() const;
  Snapshot TakeAt(int64_t now_ns) const;
  const Segment& segment() const { return seg_; }

 private:
  explicit Inspector(Segment seg) : seg_(std::move(seg)) {}
  Segment seg_;
};

// Permits per second the spec allows in the long run (gcra rate/period,
// sliding and window limit/window, lease holders/ttl).
double SteadyRatePerSecond(const LimiterSpec& spec);

}  // namespace sluice

#endif  // SLUICE_ADMIN_INSPECT_H_
