#include "params.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "slot_table.h"

namespace sluice {
namespace {

constexpr int kReadAttempts = 1000;

uint64_t Cut(uint64_t v, uint64_t cap) { return cap > 0 ? std::min(v, cap) : v; }

// Record words, read and written as relaxed atomics (invariant 2: a
// reader may copy a bank while a change rewrites it, and then discards it).
void CopyOut(const ParamsRecord* rec, ParamsRecord* out) {
  const auto* src = reinterpret_cast<const uint64_t*>(rec);
  auto* dst = reinterpret_cast<uint64_t*>(out);
  for (uint32_t i = 0; i < kParamsWords; ++i) dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
void CopyIn(const ParamsRecord& in, ParamsRecord* rec) {
  const auto* src = reinterpret_cast<const uint64_t*>(&in);
  auto* dst = reinterpret_cast<uint64_t*>(rec);
  for (uint32_t i = 0; i < kParamsWords; ++i) __atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
}

Status Corrupt(const SlotLayout& slot, const std::string& why) {
  return Status(Code::kCorrupt, "limiter '" + slots::NameOf(slot) + "': " + why);
}

bool TimeOk(int64_t t) { return t <= INT64_MAX / 2 && t >= INT64_MIN / 2; }
bool EndOk(int64_t t) { return t == INT64_MAX || TimeOk(t); }

// Checks the fleet fields of a record (any values a damaged segment holds
// must not overflow later arithmetic or name an unknown stage).
Status CheckShare(const SlotLayout& slot, const ShareState& s, Algorithm a) {
  if (s.stage > kStageLapsed) return Corrupt(slot, "parameter record has an unknown share stage");
  if (!EndOk(s.stage_end_ns) || !EndOk(s.share_expires_ns) || !EndOk(s.fallback_until_ns) ||
      !TimeOk(s.drained_ns)) {
    return Corrupt(slot, "parameter record has an impossible share time");
  }
  const uint64_t max = a == Algorithm::kGcra      ? kMaxRate
                       : a == Algorithm::kWindow  ? kMaxWindowLimit
                       : a == Algorithm::kSliding ? kMaxSlidingLimit
                                                  : kMaxHolders;
  for (uint64_t v : {s.cap_amount, s.share_amount, s.fallback_amount}) {
    if (v > max) return Corrupt(slot, "parameter record has a share amount out of range");
  }
  for (uint64_t v : {s.cap_burst, s.share_burst, s.fallback_burst}) {
    if (v > (uint64_t{1} << 40)) return Corrupt(slot, "parameter record has a burst out of range");
  }
  return Status::OK();
}

}  // namespace

StageAmounts StageAt(const ShareState& s, Algorithm algorithm, int64_t now) {
  StageAmounts a;
  if (s.stage == kStageNone) return a;
  uint64_t amount = 0;
  uint64_t burst = 0;
  if (now < s.share_expires_ns) {
    a.stage = kStageShare;
    a.end_ns = s.share_expires_ns;
    amount = s.share_amount;
    burst = s.share_burst;
  } else if (now < s.fallback_until_ns) {
    a.stage = kStageFallback;
    a.end_ns = s.fallback_until_ns;
    amount = s.fallback_amount;
    burst = s.fallback_burst;
  } else {
    a.stage = kStageLapsed;
    return a;
  }
  a.amount = Cut(amount, s.cap_amount);
  if (algorithm == Algorithm::kGcra && a.amount > 0) {
    // No burst given: the cap's burst scaled to the amount (at least 1).
    if (burst == 0) {
      burst = s.cap_burst > 0 && s.cap_amount > 0
                  ? static_cast<uint64_t>(static_cast<unsigned __int128>(s.cap_burst) * a.amount /
                                          s.cap_amount)
                  : 1;
    }
    a.burst = std::max<uint64_t>(1, Cut(burst, s.cap_burst));
  }
  return a;
}

LimiterSpec WithAmount(const LimiterSpec& shape, uint64_t amount, uint64_t burst) {
  LimiterSpec s = shape;
  switch (s.algorithm) {
    case Algorithm::kGcra:
      s.rate = amount;
      s.burst = amount == 0 ? 0 : burst;
      break;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      s.limit = amount;
      break;
    case Algorithm::kLease:
      s.holders = amount;
      break;
  }
  return s;
}

uint64_t ActiveParams::MaxPermits() const {
  if (!declared.global) return spec.Capacity();
  if (declared.algorithm == Algorithm::kGcra) {
    return declared.burst > 0 ? declared.burst : uint64_t{1} << 40;
  }
  const uint64_t cap = declared.Capacity();
  if (cap > 0) return cap;
  switch (declared.algorithm) {
    case Algorithm::kWindow:
      return kMaxWindowLimit;
    case Algorithm::kSliding:
      return kMaxSlidingLimit;
    default:
      return kMaxHolders;
  }
}

uint64_t RingLen(const LimiterSpec& spec) {
  switch (spec.algorithm) {
    case Algorithm::kSliding:
      return spec.limit;
    case Algorithm::kLease:
      return spec.holders;
    default:
      return 0;
  }
}

uint64_t RingBytes(Algorithm algorithm, uint64_t cap) {
  switch (algorithm) {
    case Algorithm::kSliding:
      return sizeof(RingHeader) + cap * sizeof(int64_t);
    case Algorithm::kLease:
      return cap * sizeof(HolderEntry) + kWaiterSlots * sizeof(uint64_t);
    default:
      return 0;
  }
}

uint64_t GrownCap(Algorithm algorithm, uint64_t cap, uint64_t len) {
  const uint64_t max = algorithm == Algorithm::kSliding ? kMaxSlidingLimit : kMaxHolders;
  return std::min(max, std::max(len, cap * 2));
}

StatusOr<uint64_t> AllocateRing(Mapping& m, Algorithm algorithm, uint64_t cap) {
  const uint64_t bytes = RingBytes(algorithm, cap);
  if (bytes == 0 || cap == 0) return uint64_t{0};
  StatusOr<uint64_t> r = m.Allocate(bytes);
  if (!r.ok()) return r.status();
  if (algorithm == Algorithm::kSliding) {
    auto* hdr = m.ArenaAt<RingHeader>(*r, 1);
    auto* words = m.ArenaAt<std::atomic<int64_t>>(*r + sizeof(RingHeader), cap);
    if (hdr == nullptr || words == nullptr) {
      return Status(Code::kCorrupt, "arena allocation out of bounds");
    }
    hdr->hint.store(0, std::memory_order_relaxed);
    hdr->free_at.store(0, std::memory_order_relaxed);
    hdr->free_seq.store(0, std::memory_order_relaxed);
    hdr->reserved = 0;
    for (uint64_t i = 0; i < cap; ++i) words[i].store(kSealed, std::memory_order_relaxed);
  } else {
    auto* e = m.ArenaAt<HolderEntry>(*r, cap);
    if (e == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
    for (uint64_t i = 0; i < cap; ++i) {
      e[i].expiry.store(kSealed, std::memory_order_relaxed);
      e[i].owner.store(0, std::memory_order_relaxed);
      e[i].owner_pidns.store(0, std::memory_order_relaxed);
      e[i].token.store(0, std::memory_order_relaxed);
      e[i].granted_ns.store(0, std::memory_order_relaxed);
      e[i].free_since_ns.store(INT64_MIN, std::memory_order_relaxed);
    }
    auto* w = m.ArenaAt<std::atomic<uint64_t>>(*r + cap * sizeof(HolderEntry), kWaiterSlots);
    if (w == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
    for (uint32_t i = 0; i < kWaiterSlots; ++i) w[i].store(0, std::memory_order_relaxed);
  }
  return *r;
}

StatusOr<uint64_t> AllocateRecords(Mapping& m) {
  StatusOr<uint64_t> off = m.Allocate(2 * sizeof(ParamsRecord));
  if (!off.ok()) return off.status();
  auto* recs = m.ArenaAt<ParamsRecord>(*off, 2);
  if (recs == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
  return *off;
}

StatusOr<uint64_t> WriteRecord(const Mapping& m, SlotLayout* slot, const RecordDraft& d) {
  const uint64_t banks = slot->records_off;
  auto* recs = m.ArenaAt<ParamsRecord>(banks, 2);
  if (recs == nullptr) return Corrupt(*slot, "parameter record banks out of bounds");
  const uint64_t cur = slot->params_off.load(std::memory_order_acquire);
  // The bank not published now (a slot being defined has published none).
  const uint64_t next_off = ParamsWordOffset(cur) == banks ? banks + sizeof(ParamsRecord) : banks;
  ParamsRecord r;
  std::memset(&r, 0, sizeof r);
  const LimiterSpec& s = d.spec;
  r.magic = kParamsMagic;
  r.algorithm = static_cast<uint32_t>(s.algorithm);
  r.rate = s.rate;
  r.period_ns = s.period_ns;
  r.burst = s.burst;
  r.limit = s.limit;
  r.window_ns = s.window_ns;
  r.holders = s.holders;
  r.ttl_ns = s.ttl_ns;
  r.flags = (s.reclaim ? kFlagReclaim : 0) | (d.declared.global ? kFlagGlobal : 0) |
            (d.closed ? kFlagClosed : 0);
  r.carry_count = d.carry.count;
  r.ring_off = d.ring_off;
  r.ring_len = RingLen(s);
  r.carry_until_ns = d.carry.count == 0 ? INT64_MIN : d.carry.until_ns;
  r.ring_cap = d.ring_cap;
  const ShareState& sh = d.share;
  r.cap_amount = sh.cap_amount;
  r.cap_burst = sh.cap_burst;
  r.stage = sh.stage;
  r.stage_end_ns = sh.stage_end_ns;
  r.share_amount = sh.share_amount;
  r.share_burst = sh.share_burst;
  r.share_expires_ns = sh.share_expires_ns;
  r.fallback_amount = sh.fallback_amount;
  r.fallback_burst = sh.fallback_burst;
  r.fallback_until_ns = sh.fallback_until_ns;
  r.epoch = sh.epoch;
  r.drained_ns = sh.drained_ns;
  r.amount_gen = d.amount_gen;
  r.published_ns = d.published_ns;
  auto* dst = m.ArenaAt<ParamsRecord>(next_off, 1);
  // Seqlock writer: nothing of the rewrite may become visible before what
  // came earlier (the publish of the other bank a reader may have seen).
  std::atomic_thread_fence(std::memory_order_release);
  CopyIn(r, dst);
  return ParamsWord(ParamsWordGen(cur) + 1, next_off);
}

namespace {

// Validates the copy `rec` of the record published as `word`.
StatusOr<ActiveParams> FromRecord(const Mapping& m, SlotLayout* slot, const ParamsRecord& rec,
                                  uint64_t word) {
  if (rec.magic != kParamsMagic) return Corrupt(*slot, "parameter record has a bad magic");
  if (rec.algorithm < 1 || rec.algorithm > 4) {
    return Corrupt(*slot, "parameter record has an unknown algorithm");
  }
  ActiveParams p;
  p.off = word;
  LimiterSpec& s = p.spec;
  s.algorithm = static_cast<Algorithm>(rec.algorithm);
  s.rate = rec.rate;
  s.period_ns = rec.period_ns;
  s.burst = rec.burst;
  s.limit = rec.limit;
  s.window_ns = rec.window_ns;
  s.holders = rec.holders;
  s.ttl_ns = rec.ttl_ns;
  s.reclaim = rec.flags & kFlagReclaim;
  s.global = rec.flags & kFlagGlobal;
  p.closed = rec.flags & kFlagClosed;
  if (p.closed && !s.global) return Corrupt(*slot, "parameter record closes a local limiter");
  if (Status st = s.Validate(); !st.ok()) {
    return Corrupt(*slot, "parameter record fails validation: " + st.message());
  }
  ShareState& sh = p.share;
  sh.cap_amount = rec.cap_amount;
  sh.cap_burst = rec.cap_burst;
  sh.stage = rec.stage;
  sh.stage_end_ns = rec.stage_end_ns;
  sh.share_amount = rec.share_amount;
  sh.share_burst = rec.share_burst;
  sh.share_expires_ns = rec.share_expires_ns;
  sh.fallback_amount = rec.fallback_amount;
  sh.fallback_burst = rec.fallback_burst;
  sh.fallback_until_ns = rec.fallback_until_ns;
  sh.epoch = rec.epoch;
  sh.drained_ns = rec.drained_ns;
  p.amount_gen = rec.amount_gen;
  if (!TimeOk(rec.published_ns)) {
    return Corrupt(*slot, "parameter record has an impossible publish time");
  }
  p.published_ns = rec.published_ns;
  if (Status st = CheckShare(*slot, sh, s.algorithm); !st.ok()) return st;
  p.declared = s.global ? WithAmount(s, sh.cap_amount, sh.cap_burst) : s;
  if (!s.global) sh = ShareState{};
  p.hot_until_ns = p.closed ? INT64_MIN : (s.global ? sh.stage_end_ns : INT64_MAX);
  const uint64_t ring_len = rec.ring_len;
  const uint64_t ring_cap = rec.ring_cap;
  p.ring_off = rec.ring_off;
  p.ring_cap = ring_cap;
  // Carried grants never outnumber the largest ring/table (a shrink drops
  // at most what the old one held); more is a corrupt record.
  const uint64_t max_carry = s.algorithm == Algorithm::kSliding ? kMaxSlidingLimit
                             : s.algorithm == Algorithm::kLease ? kMaxHolders
                                                                : 0;
  if (rec.carry_count > max_carry) {
    return Corrupt(*slot, "parameter record carries too many grants");
  }
  // A carried time is a grant time or an expiry: never a sentinel and
  // never so far out that arithmetic on it could overflow.
  if (rec.carry_count > 0 && !TimeOk(rec.carry_until_ns)) {
    return Corrupt(*slot, "parameter record carries an impossible time");
  }
  if (rec.carry_count > 0) p.carry = Carry{rec.carry_count, rec.carry_until_ns};
  const bool ring_ok = ring_len == RingLen(s) && ring_cap >= ring_len &&
                       ring_cap <= std::max(kMaxSlidingLimit, kMaxHolders);
  switch (s.algorithm) {
    case Algorithm::kGcra:
      if (s.rate == 0 || s.burst == 0) {
        return Corrupt(*slot, "parameter record has no gcra amounts");
      }
      p.gcra = gcra::MakeParams(s.rate, s.period_ns, s.burst);
      break;
    case Algorithm::kWindow:
      if (s.limit == 0) return Corrupt(*slot, "parameter record has no window limit");
      p.window = {s.limit, s.window_ns};
      break;
    case Algorithm::kSliding: {
      if (!ring_ok) return Corrupt(*slot, "sliding ring out of bounds");
      if (ring_cap > 0) {
        auto* hdr = m.ArenaAt<RingHeader>(p.ring_off, 1);
        auto* words = m.ArenaAt<std::atomic<int64_t>>(p.ring_off + sizeof(RingHeader), ring_cap);
        if (hdr == nullptr || words == nullptr) return Corrupt(*slot, "sliding ring out of bounds");
        p.ring = {words, ring_len,      s.window_ns,   &hdr->hint, &slot->params_off,
                  word,  &hdr->free_at, &hdr->free_seq};
      } else {
        p.ring = {nullptr, 0, s.window_ns, nullptr, &slot->params_off, word};
      }
      break;
    }
    case Algorithm::kLease: {
      if (!ring_ok) return Corrupt(*slot, "lease holder table out of bounds");
      HolderEntry* e = nullptr;
      std::atomic<uint64_t>* waiters = nullptr;
      if (ring_cap > 0) {
        e = m.ArenaAt<HolderEntry>(p.ring_off, ring_cap);
        waiters = m.ArenaAt<std::atomic<uint64_t>>(p.ring_off + ring_cap * sizeof(HolderEntry),
                                                   kWaiterSlots);
        if (e == nullptr || waiters == nullptr) {
          return Corrupt(*slot, "lease holder table out of bounds");
        }
      }
      p.table = {e,
                 ring_len,
                 s.ttl_ns,
                 s.reclaim,
                 p.carry.until_ns,
                 &slot->token,
                 &slot->ring_hint,
                 &slot->params_off,
                 word,
                 waiters,
                 s.reclaim ? nullptr : &slot->full_until,
                 &slot->wake_seq,
                 &slot->sleepers};
      break;
    }
  }
  // What callers see: a closed limiter has no amount (gcra and window keep
  // theirs above only as the units of their state word).
  p.basis = s;
  if (p.closed) s = WithAmount(s, 0, 0);
  return p;
}

}  // namespace

StatusOr<ActiveParams> LoadParams(const Mapping& m, SlotLayout* slot) {
  const uint64_t banks = slot->records_off;
  if (m.ArenaAt<const ParamsRecord>(banks, 2) == nullptr) {
    return Corrupt(*slot, "parameter record banks out of bounds");
  }
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    // acquire: pairs with the release store that published the word.
    const uint64_t word = slot->params_off.load(std::memory_order_acquire);
    const uint64_t off = ParamsWordOffset(word);
    if (off != banks && off != banks + sizeof(ParamsRecord)) {
      return Corrupt(*slot, "parameter record out of bounds");
    }
    ParamsRecord rec;
    CopyOut(m.ArenaAt<const ParamsRecord>(off, 1), &rec);
    // Invariant 2: the copy's loads happen before the second load of the
    // word (acquire fence), so an unchanged word proves a whole copy.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot->params_off.load(std::memory_order_relaxed) != word) continue;
    return FromRecord(m, slot, rec, word);
  }
  return Status(Code::kIo,
                "limiter '" + slots::NameOf(*slot) + "': its parameters keep changing; try again");
}

}  // namespace sluice
