#include "params.h"

#include <cstring>
#include <new>

#include "slot_table.h"

namespace sluice {

uint64_t RingBytes(const LimiterSpec& spec) {
  switch (spec.algorithm) {
    case Algorithm::kSliding:
      return sizeof(RingHeader) + spec.limit * sizeof(int64_t);
    case Algorithm::kLease:
      return spec.holders * sizeof(HolderEntry);
    default:
      return 0;
  }
}

StatusOr<ParamsSpace> AllocateParams(Mapping& m, const LimiterSpec& spec, bool fresh_ring) {
  ParamsSpace space;
  const uint64_t ring_bytes = RingBytes(spec);
  if (fresh_ring && ring_bytes > 0) {
    StatusOr<uint64_t> r = m.Allocate(ring_bytes);
    if (!r.ok()) return r.status();
    space.ring_off = *r;
    // Fresh arena bytes are zero; make every entry explicitly free.
    if (spec.algorithm == Algorithm::kSliding) {
      auto* hdr = m.ArenaAt<RingHeader>(space.ring_off, 1);
      auto* words =
          m.ArenaAt<std::atomic<int64_t>>(space.ring_off + sizeof(RingHeader), spec.limit);
      if (hdr == nullptr || words == nullptr)
        return Status(Code::kCorrupt, "arena allocation out of bounds");
      hdr->hint.store(0, std::memory_order_relaxed);
      for (uint64_t i = 0; i < spec.limit; ++i)
        words[i].store(kFreeStamp, std::memory_order_relaxed);
    } else {
      auto* e = m.ArenaAt<HolderEntry>(space.ring_off, spec.holders);
      if (e == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
      for (uint64_t i = 0; i < spec.holders; ++i) {
        e[i].expiry.store(lease::kUnusedExpiry, std::memory_order_relaxed);
        e[i].owner.store(0, std::memory_order_relaxed);
        e[i].owner_pidns.store(0, std::memory_order_relaxed);
        e[i].token.store(0, std::memory_order_relaxed);
        e[i].granted_ns.store(0, std::memory_order_relaxed);
        e[i].free_since_ns.store(INT64_MIN, std::memory_order_relaxed);
      }
    }
  }
  StatusOr<uint64_t> off = m.Allocate(sizeof(ParamsRecord));
  if (!off.ok()) return off.status();
  space.rec_off = *off;
  return space;
}

StatusOr<uint64_t> FillParams(Mapping& m, const LimiterSpec& spec, ParamsSpace space, Carry carry) {
  auto* rec = m.ArenaAt<ParamsRecord>(space.rec_off, 1);
  if (rec == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
  rec->magic = kParamsMagic;
  rec->algorithm = static_cast<uint32_t>(spec.algorithm);
  rec->rate = spec.rate;
  rec->period_ns = spec.period_ns;
  rec->burst = spec.burst;
  rec->limit = spec.limit;
  rec->window_ns = spec.window_ns;
  rec->holders = spec.holders;
  rec->ttl_ns = spec.ttl_ns;
  rec->flags = (spec.reclaim ? kFlagReclaim : 0) | (spec.global ? kFlagGlobal : 0);
  rec->carry_count = carry.count;
  rec->ring_off = space.ring_off;
  rec->ring_len = spec.algorithm == Algorithm::kSliding ? spec.limit
                  : spec.algorithm == Algorithm::kLease ? spec.holders
                                                        : 0;
  rec->carry_until_ns = carry.count == 0 ? INT64_MIN : carry.until_ns;
  return space.rec_off;
}

StatusOr<uint64_t> WriteParams(Mapping& m, const LimiterSpec& spec, uint64_t ring_off,
                               Carry carry) {
  StatusOr<ParamsSpace> space = AllocateParams(m, spec, ring_off == 0);
  if (!space.ok()) return space.status();
  if (ring_off != 0) space->ring_off = ring_off;
  return FillParams(m, spec, *space, carry);
}

StatusOr<ActiveParams> LoadParams(const Mapping& m, SlotLayout* slot, uint64_t off) {
  const auto* rec = m.ArenaAt<const ParamsRecord>(off, 1);
  if (rec == nullptr || rec->magic != kParamsMagic) {
    return Status(Code::kCorrupt, "limiter '" + slots::NameOf(*slot) +
                                      "': parameter record out of bounds or bad magic");
  }
  ActiveParams p;
  p.off = off;
  LimiterSpec& s = p.spec;
  if (rec->algorithm < 1 || rec->algorithm > 4) {
    return Status(Code::kCorrupt, "limiter parameter record has an unknown algorithm");
  }
  s.algorithm = static_cast<Algorithm>(rec->algorithm);
  s.rate = rec->rate;
  s.period_ns = rec->period_ns;
  s.burst = rec->burst;
  s.limit = rec->limit;
  s.window_ns = rec->window_ns;
  s.holders = rec->holders;
  s.ttl_ns = rec->ttl_ns;
  s.reclaim = rec->flags & kFlagReclaim;
  s.global = rec->flags & kFlagGlobal;
  if (Status st = s.Validate(); !st.ok()) {
    return Status(Code::kCorrupt, "limiter parameter record fails validation: " + st.message());
  }
  const uint64_t ring_off = rec->ring_off;
  p.ring_off = ring_off;
  const uint64_t ring_len = rec->ring_len;
  // Carried grants never outnumber the largest ring/table (a shrink drops
  // at most what the old one held); more is a corrupt record.
  const uint64_t max_carry = s.algorithm == Algorithm::kSliding ? kMaxSlidingLimit
                             : s.algorithm == Algorithm::kLease ? kMaxHolders
                                                                : 0;
  if (rec->carry_count > max_carry) {
    return Status(Code::kCorrupt, "limiter parameter record carries too many grants");
  }
  // A carried time is a grant time or an expiry: never a sentinel and
  // never so far out that arithmetic on it could overflow.
  if (rec->carry_count > 0 &&
      (rec->carry_until_ns > INT64_MAX / 2 || rec->carry_until_ns < INT64_MIN / 2)) {
    return Status(Code::kCorrupt, "limiter parameter record carries an impossible time");
  }
  if (rec->carry_count > 0) p.carry = Carry{rec->carry_count, rec->carry_until_ns};
  switch (s.algorithm) {
    case Algorithm::kGcra:
      p.gcra = gcra::MakeParams(s.rate, s.period_ns, s.burst);
      break;
    case Algorithm::kWindow:
      p.window = {s.limit, s.window_ns};
      break;
    case Algorithm::kSliding: {
      auto* hdr = m.ArenaAt<RingHeader>(ring_off, 1);
      auto* words = m.ArenaAt<std::atomic<int64_t>>(ring_off + sizeof(RingHeader), ring_len);
      if (ring_len != s.limit || hdr == nullptr || words == nullptr) {
        return Status(Code::kCorrupt, "sliding ring out of bounds");
      }
      p.ring = {words, ring_len, s.window_ns, &hdr->hint};
      break;
    }
    case Algorithm::kLease: {
      auto* e = m.ArenaAt<HolderEntry>(ring_off, ring_len);
      if (ring_len != s.holders || e == nullptr) {
        return Status(Code::kCorrupt, "lease holder table out of bounds");
      }
      p.table = {
          e, ring_len, s.ttl_ns, s.reclaim, p.carry.until_ns, &slot->token, &slot->ring_hint};
      break;
    }
  }
  return p;
}

}  // namespace sluice
