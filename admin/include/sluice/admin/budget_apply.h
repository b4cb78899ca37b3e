// Applying a budget file to a namespace's segment, all or nothing.
//
// PlanBudget checks everything that could make an apply fail halfway (an
// algorithm that cannot change, even of a retired limiter; not enough
// limiter slots; not enough arena space) against the segment mapped
// read-only, and reports what would change. ApplyBudget plans first and
// changes nothing when the plan fails; then it creates the segment if needed
// and defines every limiter (Segment::Define: same parameters are a no-op,
// new ones of the same algorithm apply live, keeping state).
//
// Limiters in the segment but not in the file are kept and reported
// (kMissing); with `prune` they are retired (Segment::Retire: hidden from
// find/list, their state kept, handles already open keep working).
#ifndef SLUICE_ADMIN_BUDGET_APPLY_H_
#define SLUICE_ADMIN_BUDGET_APPLY_H_

#include <string>
#include <vector>

#include "sluice/admin/budget_file.h"
#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice {

struct ApplyOptions {
  std::string ns;        // namespace; empty: the file's, else DefaultNamespace()
  bool prune = false;    // retire limiters that are not in the file
  bool dry_run = false;  // plan and report only
};

enum class ApplyAction {
  kCreate,     // new limiter
  kUpdate,     // parameters change live (state kept)
  kUnchanged,  // same parameters
  kRevive,     // was retired; defined again (state kept)
  kKeep,       // in the segment, not in the file: kept (no --prune)
  kRetire,     // in the segment, not in the file: retired (--prune)
};
// "create", "update", "unchanged", "revive", "keep", "retire".
const char* ApplyActionName(ApplyAction a);

struct ApplyItem {
  std::string name;
  ApplyAction action = ApplyAction::kUnchanged;
  bool had_before = false;
  LimiterSpec before;  // valid when had_before
  LimiterSpec after;   // the file's spec (kKeep/kRetire: == before)
};

struct ApplyReport {
  std::string ns;
  bool creates_segment = false;  // the segment did not exist
  bool dry_run = false;
  uint32_t segment_mode = 0;  // existing segment's mode (0 if new)
  uint32_t file_mode = 0600;
  std::vector<ApplyItem> items;  // file order, then the missing ones

  // True when applying changes something.
  bool changes() const;
};

// Checks `budget` against the segment as it is now; changes nothing.
// Errors read "FILE:LINE:COL: message".
StatusOr<ApplyReport> PlanBudget(const Budget& budget, const ApplyOptions& options);

// Plans, then (unless dry_run) applies. If the plan fails nothing changes.
StatusOr<ApplyReport> ApplyBudget(const Budget& budget, const ApplyOptions& options);

// Human-readable report, one line per limiter:
//   "+ name  gcra rate=100 period=1s burst=10" (create)
//   "~ name  sliding limit=5 -> 10" ... then a summary line.
std::string FormatApplyReport(const ApplyReport& report);

}  // namespace sluice

#endif  // SLUICE_ADMIN_BUDGET_APPLY_H_
