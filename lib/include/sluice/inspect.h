// The inspector: snapshots of a namespace's limiters read from the segment
// mapped read-only, and their text and JSON forms (sluicectl ls / show).
//
// Reading never blocks and never writes: every field is a relaxed load of a
// word the limiters keep up to date, so a snapshot is a consistent view of
// each word, not of the whole segment.
#ifndef SLUICE_INSPECT_H_
#define SLUICE_INSPECT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/export.h"
#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice {

class Mapping;

// Fleet limiters: this host's allocation from the allotter and its lease.
enum class AllocationState {
  kNone,     // no allocation has arrived: the host runs on its safe share
  kValid,    // allocation leased until allocation_expires_ns
  kExpired,  // the lease lapsed: back on the safe share
};
SLUICE_EXPORT const char* AllocationStateName(AllocationState s);  // "none", ...

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
class SLUICE_EXPORT Inspector {
 public:
  // Maps namespace `ns` read-only (kNotFound if it does not exist).
  static StatusOr<Inspector> Open(std::string_view ns);
  // Reads every live limiter now, corrupt ones included (row.corrupt).
  Snapshot Take() const;
  Snapshot TakeAt(int64_t now_ns) const;
  const Segment& segment() const { return seg_; }

 private:
  Inspector(Segment seg, std::shared_ptr<Mapping> raw)
      : seg_(std::move(seg)), raw_(std::move(raw)) {}
  Segment seg_;
  std::shared_ptr<Mapping> raw_;  // same object, for the fleet words
};

// Permits per second the spec allows in the long run (gcra rate/period,
// sliding and window limit/window, lease holders/ttl).
SLUICE_EXPORT double SteadyRatePerSecond(const LimiterSpec& spec);

// `ls`: a header line and one line per limiter, columns aligned.
SLUICE_EXPORT std::string FormatTable(const Snapshot& snap);
// `show`: one "key: value" line per field.
SLUICE_EXPORT std::string FormatShow(const LimiterRow& row, int64_t now_ns);

// JSON (one object, no trailing newline). Field names are stable and listed
// in docs/sluicectl.md; durations are integer nanoseconds (*_ns).
SLUICE_EXPORT std::string RowToJson(const LimiterRow& row, int64_t now_ns);
SLUICE_EXPORT std::string SnapshotToJson(const Snapshot& snap);
// A JSON string literal with quotes and escapes. Always valid JSON and
// UTF-8: control bytes become \u00XX, each byte of an invalid UTF-8
// sequence becomes U+FFFD.
SLUICE_EXPORT std::string JsonQuote(std::string_view s);
// `s` for a terminal: bytes outside printable ASCII as \xNN.
SLUICE_EXPORT std::string EscapeForDisplay(std::string_view s);

}  // namespace sluice

#endif  // SLUICE_INSPECT_H_
