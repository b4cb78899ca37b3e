#include "sluice/admin/inspect.h"

#include "admin_access.h"
#include "sluice/duration.h"

namespace sluice {

const LimiterRow* Snapshot::Find(std::string_view name) const {
  for (const LimiterRow& r : rows) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

StatusOr<Inspector> Inspector::Open(std::string_view ns) {
  OpenOptions o;
  o.read_only = true;
  StatusOr<Segment> seg = Segment::Open(ns, o);
  if (!seg.ok()) return seg.status();
  return Inspector(std::move(*seg));
}

Snapshot Inspector::Take() const { return TakeAt(MonotonicNowNs()); }

Snapshot Inspector::TakeAt(int64_t now) const {
  Snapshot s;
  s.info = seg_.Info();
  s.taken_ns = now;
  // Slot by slot (not Segment::List, which skips slots that fail
  // validation): a damaged limiter is shown as such, never dropped.
  for (const admin_access::SlotEntry& e : admin_access::ListSlots(seg_)) {
    if (e.use == admin_access::SlotUse::kRetired || e.use == admin_access::SlotUse::kBusy) continue;
    LimiterRow r;
    r.name = e.name;
    StatusOr<Limiter> found = e.params.ok() ? seg_.Find(r.name) : StatusOr<Limiter>(e.params);
    if (!found.ok()) {
      r.corrupt = found.status().message();
      s.rows.push_back(std::move(r));
      continue;
    }
    const Limiter& l = *found;
    r.spec = l.spec();
    r.stats = l.stats();
    r.level = l.LevelAt(now);
    if (StatusOr<admin_access::ShareView> v = admin_access::ReadShare(seg_, e.index, now);
        v.ok() && v->declared.global) {
      r.global = true;
      r.spec = v->in_force;
      r.share.stage = static_cast<admin::ShareStage>(v->stage);
      r.share.amount = admin::AmountOf(v->in_force);
      r.share.burst = v->in_force.algorithm == Algorithm::kGcra ? v->in_force.burst : 0;
      r.share.cap = admin::AmountOf(v->declared);
      r.share.ends_ns = v->stage_end_ns;
      r.share.epoch = v->epoch;
      r.share.drained_ns = v->drained_ns;
    }
    s.rows.push_back(std::move(r));
  }
  return s;
}

double SteadyRatePerSecond(const LimiterSpec& s) {
  switch (s.algorithm) {
    case Algorithm::kGcra:
      return double(s.rate) * 1e9 / double(s.period_ns);
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      return double(s.limit) * 1e9 / double(s.window_ns);
    case Algorithm::kLease:
      return double(s.holders) * 1e9 / double(s.ttl_ns);
  }
  return 0;
}

}  // namespace sluice
