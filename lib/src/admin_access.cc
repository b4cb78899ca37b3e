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
      StatusOr<ActiveParams> p =
          LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
      if (p.ok()) {
        e.spec = p->spec;
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

FleetWords ReadFleetWords(const Segment& seg, uint32_t index) {
  const SlotLayout* slot = SegmentInternals::Of(seg).slot(index);
  // relaxed: each word is read on its own (a display, or the forwarder's
  // input); nothing else is published through them.
  FleetWords w;
  w.allocation = slot->allocation.load(std::memory_order_relaxed);
  w.allocation_expires_ns = slot->allocation_expires_ns.load(std::memory_order_relaxed);
  w.demand_milli = slot->demand_milli.load(std::memory_order_relaxed);
  return w;
}

Status WriteFleetWords(const Segment& seg, uint32_t index, const FleetWords& w) {
  Mapping& m = SegmentInternals::Of(seg);
  if (m.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  SlotLayout* slot = m.slot(index);
  slot->allocation.store(w.allocation, std::memory_order_relaxed);
  slot->allocation_expires_ns.store(w.allocation_expires_ns, std::memory_order_relaxed);
  return Status::OK();
}

Status CheckOwnedByCaller(const Segment& seg) {
  const Mapping& m = SegmentInternals::Of(seg);
  return CheckOwner(m.owner_uid(), Segment::PathFor(m.ns()), m.ns());
}

uint64_t DefineArenaBytes(const LimiterSpec* before, const LimiterSpec& after) {
  const uint64_t rec = sizeof(ParamsRecord);
  const uint64_t ring = RoundUp(RingBytes(after), kCacheLine);
  if (before == nullptr) return rec + ring;
  if (*before == after) return 0;
  // A live change writes one record; a sliding change always a new ring
  // (sealing the old one is what stops stalled decisions), a lease change
  // a new holder table when `holders` changes.
  const bool new_ring = after.algorithm == Algorithm::kSliding ||
                        (after.algorithm == Algorithm::kLease && before->holders != after.holders);
  return rec + (new_ring ? ring : 0);
}

}  // namespace admin_access
}  // namespace sluice
