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

#include "sluice/admin/share.h"
#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice {

// Fleet (global) limiters: the share in force (docs/fleet.md).
struct ShareRow {
  admin::ShareStage stage = admin::ShareStage::kNone;
  uint64_t amount = 0;          // in force: gcra rate, limit or holders (0: closed)
  uint64_t burst = 0;           // gcra
  uint64_t cap = 0;             // the budget file's amount (0: none)
  int64_t ends_ns = INT64_MAX;  // CLOCK_MONOTONIC end of the stage (INT64_MAX: never)
  uint64_t epoch = 0;
  int64_t drained_ns = 0;
};

struct LimiterRow {
  std::string name;  // raw bytes from the segment: escape before printing
  // Non-empty when the slot fails validation (a corrupt segment): why. The
  // row is listed all the same, with spec, stats and level left zero.
  std::string corrupt;
  LimiterSpec spec;
  LimiterStats stats;
  LimiterLevel level;
  bool global = false;  // a fleet limiter: `share` applies
  ShareRow share;
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
