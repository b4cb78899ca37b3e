// Applying a budget: plan against the segment mapped read-only, then define.
#include "sluice/admin/budget_apply.h"

#include <algorithm>
#include <cstdio>

#include "admin_access.h"
#include "common.h"
#include "sluice/segment.h"

namespace sluice {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
// A new segment's arena: what the file needs plus room for later updates.
constexpr uint64_t kDefaultArena = 4 * kMiB;
constexpr uint64_t kMaxBudgetArena = uint64_t{1} << 30;

// A limiter slot that exists in the segment (live or retired).
struct Existing {
  std::string name;
  LimiterSpec spec;
  bool retired = false;
};

struct SegmentState {
  bool exists = false;
  uint32_t capacity = OpenOptions{}.capacity;
  uint32_t used_slots = 0;  // including retired and half-initialised
  uint64_t arena_free = kDefaultArena;
  uint32_t mode = 0;
  Status owned;  // whether the caller owns the segment file
  std::vector<Existing> limiters;
};

StatusOr<SegmentState> ReadSegment(const std::string& ns) {
  SegmentState st;
  OpenOptions o;
  o.read_only = true;
  StatusOr<Segment> seg = Segment::Open(ns, o);
  if (!seg.ok()) {
    if (seg.status().code() == Code::kNotFound) return st;
    return seg.status();
  }
  const SegmentInfo info = seg->Info();
  st.exists = true;
  st.capacity = info.capacity;
  st.mode = info.mode;
  st.owned = admin_access::CheckOwnedByCaller(*seg);
  st.arena_free = info.arena_used >= info.arena_bytes ? 0 : info.arena_bytes - info.arena_used;
  for (const admin_access::SlotEntry& e : admin_access::ListSlots(*seg)) {
    ++st.used_slots;
    if (e.use != admin_access::SlotUse::kLive && e.use != admin_access::SlotUse::kRetired) continue;
    if (!e.params.ok()) return Status(Code::kCorrupt, info.path + ": " + e.params.message());
    st.limiters.push_back({e.name, e.spec, e.use == admin_access::SlotUse::kRetired});
  }
  return st;
}

// Arena bytes a define of `after` may allocate (upper bound).
uint64_t ArenaCost(const ApplyItem& item) {
  switch (item.action) {
    case ApplyAction::kCreate:
      return admin_access::DefineArenaBytes(nullptr, item.after);
    case ApplyAction::kUpdate:
    case ApplyAction::kRevive:
      return admin_access::DefineArenaBytes(&item.before, item.after);
    default:
      return 0;
  }
}

}  // namespace

const char* ApplyActionName(ApplyAction a) {
  switch (a) {
    case ApplyAction::kCreate:
      return "create";
    case ApplyAction::kUpdate:
      return "update";
    case ApplyAction::kUnchanged:
      return "unchanged";
    case ApplyAction::kRevive:
      return "revive";
    case ApplyAction::kKeep:
      return "keep";
    case ApplyAction::kRetire:
      return "retire";
  }
  return "?";
}

bool ApplyReport::changes() const {
  if (creates_segment) return true;
  for (const ApplyItem& i : items) {
    if (i.action != ApplyAction::kUnchanged && i.action != ApplyAction::kKeep) return true;
  }
  return false;
}

StatusOr<ApplyReport> PlanBudget(const Budget& budget, const ApplyOptions& options) {
  ApplyReport r;
  r.ns = !options.ns.empty() ? options.ns : budget.ns ? *budget.ns : Segment::DefaultNamespace();
  r.dry_run = options.dry_run;
  r.file_mode = budget.mode;
  if (Status s = ValidateName(r.ns, "namespace"); !s.ok()) return s;
  StatusOr<SegmentState> seg = ReadSegment(r.ns);
  if (!seg.ok()) return seg.status();
  // Applying writes as the namespace's admin: never into a segment another
  // user created (it could change or retire what we define).
  if (seg->exists) {
    if (!seg->owned.ok()) return seg->owned;
  }
  r.creates_segment = !seg->exists;
  r.segment_mode = seg->mode;

  uint32_t slots = seg->used_slots;
  uint64_t arena = 0;
  for (const BudgetLimiter& l : budget.limiters) {
    ApplyItem item;
    item.name = l.name;
    item.after = l.spec;
    auto it = std::find_if(seg->limiters.begin(), seg->limiters.end(),
                           [&](const Existing& e) { return e.name == l.name; });
    if (it == seg->limiters.end()) {
      item.action = ApplyAction::kCreate;
      if (++slots > seg->capacity) {
        return Status(Code::kFull,
                      budget.ErrorAt(l.pos, "no free slot for limiter '" + l.name +
                                                "': namespace '" + r.ns + "' holds at most " +
                                                std::to_string(seg->capacity) + " limiters"));
      }
    } else {
      item.had_before = true;
      item.before = it->spec;
      if (it->spec.algorithm != l.spec.algorithm) {
        return Status(Code::kExists,
                      budget.ErrorAt(l.algorithm_pos,
                                     "limiter '" + l.name + "' already exists in namespace '" +
                                         r.ns + "' as " + it->spec.Describe() +
                                         "; its algorithm cannot change (use a new name, or "
                                         "sluicectl rm the namespace)"));
      }
      item.action = it->retired          ? ApplyAction::kRevive
                    : it->spec == l.spec ? ApplyAction::kUnchanged
                                         : ApplyAction::kUpdate;
    }
    arena += ArenaCost(item);
    const uint64_t room = seg->exists ? seg->arena_free : kMaxBudgetArena;
    if (arena > room) {
      return Status(
          Code::kFull,
          budget.ErrorAt(l.pos, "limiter '" + l.name + "' does not fit: the limiters need " +
                                    std::to_string(arena) + " bytes of shared memory, " +
                                    std::to_string(room) + " are free" +
                                    (seg->exists ? " (recreate the namespace to grow it)" : "")));
    }
    r.items.push_back(std::move(item));
  }
  for (const Existing& e : seg->limiters) {
    if (e.retired) continue;
    const bool in_file = std::any_of(budget.limiters.begin(), budget.limiters.end(),
                                     [&](const BudgetLimiter& l) { return l.name == e.name; });
    if (in_file) continue;
    ApplyItem item;
    item.name = e.name;
    item.action = options.prune ? ApplyAction::kRetire : ApplyAction::kKeep;
    item.had_before = true;
    item.before = item.after = e.spec;
    r.items.push_back(std::move(item));
  }
  return r;
}

StatusOr<ApplyReport> ApplyBudget(const Budget& budget, const ApplyOptions& options) {
  StatusOr<ApplyReport> plan = PlanBudget(budget, options);
  if (!plan.ok() || options.dry_run || !plan->changes()) return plan;
  OpenOptions o;
  o.create = true;
  o.mode = budget.mode;
  o.allow_world_writable = budget.allow_world_writable;
  uint64_t need = 0;
  for (const ApplyItem& i : plan->items) need += ArenaCost(i);
  o.arena_bytes = std::max(kDefaultArena, RoundUp(need, 64) + kDefaultArena);
  StatusOr<Segment> seg = Segment::Open(plan->ns, o);
  if (!seg.ok()) return seg.status();
  // Everything that could fail was checked by the plan; what fails now is a
  // concurrent change (another apply, a racing definer) or an OS error.
  for (const ApplyItem& i : plan->items) {
    Status s;
    switch (i.action) {
      case ApplyAction::kKeep:
        break;
      case ApplyAction::kRetire:
        s = seg->Retire(i.name);
        break;
      default: {
        StatusOr<Limiter> l = seg->Define(i.name, i.after);
        if (!l.ok()) s = l.status();
      }
    }
    if (!s.ok()) return Status(s.code(), "limiter '" + i.name + "': " + s.message());
  }
  return plan;
}

std::string FormatApplyReport(const ApplyReport& r) {
  std::string out;
  int changed = 0, kept = 0;
  for (const ApplyItem& i : r.items) {
    char mark = '=';
    std::string what = i.after.Describe();
    switch (i.action) {
      case ApplyAction::kCreate:
        mark = '+';
        break;
      case ApplyAction::kUpdate:
        mark = '~';
        what = i.before.Describe() + " -> " + what;
        break;
      case ApplyAction::kRevive:
        mark = '+';
        what += " (was retired; state kept)";
        break;
      case ApplyAction::kUnchanged:
        break;
      case ApplyAction::kKeep:
        mark = '!';
        what += " (not in file; kept, --prune retires it)";
        break;
      case ApplyAction::kRetire:
        mark = '-';
        what += " (not in file; retired)";
        break;
    }
    if (i.action == ApplyAction::kKeep)
      ++kept;
    else if (i.action != ApplyAction::kUnchanged)
      ++changed;
    out += std::string(1, mark) + " " + i.name + "  " + what + "\n";
  }
  std::string head = r.dry_run ? "would apply" : "applied";
  out += head + " to namespace '" + r.ns + "'" +
         (r.creates_segment ? " (new segment " + Segment::PathFor(r.ns) + ", mode " +
                                  FormatMode(r.file_mode) + ")"
                            : "") +
         ": " + std::to_string(changed) + " change" + (changed == 1 ? "" : "s") +
         (kept ? ", " + std::to_string(kept) + " kept that are not in the file" : "") + "\n";
  if (!r.creates_segment && r.segment_mode != r.file_mode) {
    out += "note: segment mode is " + FormatMode(r.segment_mode) + ", file says " +
           FormatMode(r.file_mode) + " (mode applies when the segment is created)\n";
  }
  return out;
}

}  // namespace sluice
