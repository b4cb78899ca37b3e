#include "admin_access.h"

#include "common.h"
#include "layout.h"
#include "mapping.h"
#include "params.h"
#include "slot_table.h"

namespace sluice {

// Friend of Segment: its mapping, for the functions below only.
struct SegmentInternals {
  static Mapping& Of(const Segment& s) { return *s.m_; }
};

namespace admin_access {

std::vector<SlotEntry> ListSlots(const Segment& seg) {
  Mapping& m = SegmentInternals::Of(seg);
  std::vector<SlotEntry> out;
  for (uint32_t i = 0; i < m.capacity(); ++i) {
    SlotLayout* slot = m.slot(i);
    const SlotState s = StatusState(slot->status.load(std::memory_order_acquire));
    if (s == kSlotEmpty) break;
    SlotEntry e;
    e.index = i;
    e.name = slots::NameOf(*slot);
    switch (s) {
      case kSlotReady:
      case kSlotUpdating:
        e.use = SlotUse::kLive;
        break;
      case kSlotRetired:
        e.use = SlotUse::kRetired;
        break;
      case kSlotInit:
        e.use = SlotUse::kBusy;
        break;
      default:
        e.use = SlotUse::kInvalid;
        break;
    }
    if (e.use == SlotUse::kLive || e.use == SlotUse::kRetired) {
      StatusOr<ActiveParams> p = LoadParams(m, slot);
      if (p.ok()) {
        e.spec = p->declared;
      } else {
        e.params = p.status();
      }
    } else {
      e.params = Status(Code::kCorrupt,
                        e.use == SlotUse::kBusy
                            ? "limiter slot " + std::to_string(i) + " is being defined"
                            : "limiter slot " + std::to_string(i) + " has an invalid status");
    }
    out.push_back(std::move(e));
  }
  return out;
}

StatusOr<ShareView> ReadShare(const Segment& seg, uint32_t index, int64_t now) {
  Mapping& m = SegmentInternals::Of(seg);
  SlotLayout* slot = m.slot(index);
  StatusOr<ActiveParams> p = LoadParams(m, slot);
  if (!p.ok()) return p.status();
  ShareView v;
  v.declared = p->declared;
  v.in_force = p->spec;
  v.closed = p->closed;
  const ShareState& s = p->share;
  v.stage = s.stage;
  v.stage_end_ns = s.stage_end_ns;
  v.share_amount = s.share_amount;
  v.share_burst = s.share_burst;
  v.share_expires_ns = s.share_expires_ns;
  v.fallback_amount = s.fallback_amount;
  v.fallback_burst = s.fallback_burst;
  v.fallback_until_ns = s.fallback_until_ns;
  v.epoch = s.epoch;
  v.drained_ns = s.drained_ns;
  if (p->declared.global && now >= s.stage_end_ns) {
    const StageAmounts a = StageAt(s, p->declared.algorithm, now);
    v.stage = a.stage;
    v.stage_end_ns = a.end_ns;
    v.in_force = WithAmount(p->declared, a.amount, a.burst);
    v.closed = a.amount == 0;
  }
  // relaxed: statistics, each read on its own.
  v.changes = slot->defined_seq.load(std::memory_order_relaxed);
  v.demand_milli = slot->demand_milli.load(std::memory_order_relaxed);
  return v;
}

Status PublishShare(const Segment& seg, uint32_t index, const ShareInput& in, int64_t now) {
  ShareState s;
  s.share_amount = in.amount;
  s.share_burst = in.burst;
  s.share_expires_ns = in.expires_ns;
  s.fallback_amount = in.fallback_amount;
  s.fallback_burst = in.fallback_burst;
  s.fallback_until_ns = in.fallback_until_ns;
  s.epoch = in.epoch;
  return slots::PublishShare(SegmentInternals::Of(seg), index, s, now);
}

Status CheckOwnedByCaller(const Segment& seg) {
  const Mapping& m = SegmentInternals::Of(seg);
  return CheckOwner(m.owner_uid(), Segment::PathFor(m.ns()), m.ns());
}

uint64_t DefineArenaBytes(const LimiterSpec* before, const LimiterSpec& after) {
  const uint64_t ring = RoundUp(RingBytes(after.algorithm, RingLen(after)), kCacheLine);
  if (before == nullptr) return 2 * sizeof(ParamsRecord) + ring;
  // Changes rewrite the slot's record banks and ring in place; only a ring
  // growing past its capacity allocates, at most GrownCap of what it had.
  const uint64_t had = RingLen(*before);
  const uint64_t want = RingLen(after);
  if (before->algorithm != after.algorithm || want <= had) return 0;
  return RoundUp(RingBytes(after.algorithm, GrownCap(after.algorithm, had, want)), kCacheLine);
}

}  // namespace admin_access
}  // namespace sluice
