#include "slot_table.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "gcra.h"
#include "params.h"
#include "platform.h"
#include "sluice/duration.h"
#include "window.h"

namespace sluice::slots {
namespace {

constexpr int64_t kWaitForPeerNs = 5 * kNanosPerSecond;

void Nap() {
  timespec ts{0, 50 * 1000};
  nanosleep(&ts, nullptr);
}

bool NameIs(const SlotLayout& slot, std::string_view name) { return NameOf(slot) == name; }

// The status value that marks this process as holding a slot's baton:
// pid << 32 | 24-bit tag of its PID namespace << 8 | state.
uint64_t NsTag() { return platform::PidNamespaceId() & 0xffffff; }
uint64_t Baton(SlotState s) { return (uint64_t{platform::Pid()} << 32) | (NsTag() << 8) | s; }

// True when the INIT/UPDATING baton in `st` belongs to a process that is
// certainly gone. Pids are only compared within one PID namespace: a
// holder from another container is never taken over from.
bool BatonHolderGone(uint64_t st) {
  const SlotState s = StatusState(st);
  if (s != kSlotInit && s != kSlotUpdating) return false;
  if (NsTag() == 0 || ((st >> 8) & 0xffffff) != NsTag()) return false;
  return !platform::ProcessMayBeAlive(StatusPid(st));
}

// Takes the slot's INIT/UPDATING "baton" from state `want_from` to `to`:
// waits while a live pid holds it, takes it over from a dead one.
// Returns the baton value held, or 0 (with *err) after kWaitForPeerNs.
uint64_t TakeBaton(SlotLayout* slot, uint32_t index, SlotState want_from, SlotState to, Status* err,
                   bool* took_over = nullptr) {
  const uint64_t mine = Baton(to);
  const int64_t deadline = platform::NowNs() + kWaitForPeerNs;
  for (;;) {
    uint64_t st = slot->status.load(std::memory_order_acquire);
    const SlotState s = StatusState(st);
    const bool busy = s == kSlotInit || s == kSlotUpdating;
    if (s == want_from || BatonHolderGone(st)) {
      if (slot->status.compare_exchange_strong(st, mine, std::memory_order_acq_rel)) {
        if (took_over) *took_over = s != want_from;
        return mine;
      }
      continue;
    }
    if (!busy) {
      *err = Status(Code::kExists, "slot changed state");
      return 0;
    }
    if (platform::NowNs() > deadline) {
      *err = Status(Code::kIo, "limiter slot " + std::to_string(index) + " is busy (pid " +
                                   std::to_string(StatusPid(st)) + ") for over 5s");
      return 0;
    }
    Nap();
  }
}

// True when a change sealed the gcra/window state word (a dead updater left
// it so).
static_assert(gcra::kSealedState == kSealed);
bool StateSealed(const SlotLayout* slot, const ActiveParams& p) {
  return (p.spec.algorithm == Algorithm::kGcra || p.spec.algorithm == Algorithm::kWindow) &&
         slot->state.load(std::memory_order_relaxed) == kSealed;
}

// True when a resize sealed the current ring/table (a dead updater left it).
bool Sealed(const ActiveParams& p) {
  if (p.spec.algorithm == Algorithm::kSliding && p.ring.len > 0) {
    // A change seals from word 0 up and fills from the top down.
    return p.ring.words[0].load(std::memory_order_relaxed) == kSealed ||
           p.ring.words[p.ring.len - 1].load(std::memory_order_relaxed) == kSealed;
  }
  if (p.spec.algorithm == Algorithm::kLease && p.table.len > 0) {
    // An in-place shrink seals from the top down; a new table from 0 up.
    return p.table.entries[p.table.len - 1].expiry.load(std::memory_order_relaxed) == kSealed ||
           p.table.entries[0].expiry.load(std::memory_order_relaxed) == kSealed;
  }
  return false;
}

void InitState(SlotLayout* slot, const LimiterSpec& spec) {
  slot->state.store(spec.algorithm == Algorithm::kGcra ? gcra::kInitialTat : 0,
                    std::memory_order_relaxed);
  slot->params_off.store(0, std::memory_order_relaxed);
  slot->token.store(0, std::memory_order_relaxed);
  slot->ring_hint.store(0, std::memory_order_relaxed);
  slot->wake_seq.store(0, std::memory_order_relaxed);
  slot->sleepers.store(0, std::memory_order_relaxed);
  slot->full_until.store(0, std::memory_order_relaxed);
  for (auto* c : {&slot->granted, &slot->denied, &slot->asked, &slot->waits, &slot->wait_ns,
                  &slot->demand_asked, &slot->demand_milli, &slot->defined_seq}) {
    c->store(0, std::memory_order_relaxed);
  }
  slot->waiting.store(0, std::memory_order_relaxed);
  slot->demand_epoch_ns.store(0, std::memory_order_relaxed);
  slot->records_off = 0;
  slot->queue_since.store(0, std::memory_order_relaxed);
  slot->queue_serving.store(0, std::memory_order_relaxed);
}

// The caps a global definition sets (its amounts; 0: none).
void SetCaps(const LimiterSpec& declared, ShareState* s) {
  if (declared.algorithm == Algorithm::kGcra) {
    s->cap_amount = declared.rate;
    s->cap_burst = declared.burst;
  } else {
    s->cap_amount = declared.Capacity();
    s->cap_burst = 0;
  }
}

// What a change is asked to reach.
struct Target {
  LimiterSpec declared;  // the definition (global: amounts are caps)
  ShareState share;      // global: the share (stage and end are worked out)
  int64_t now = 0;       // the time the stage is chosen at
};

// The parameters in force for `t`: the definition itself, or for a global
// limiter its shape with the amounts of the share's stage at t.now. A
// closed gcra/window limiter keeps `basis` amounts (its state's units).
struct Effective {
  LimiterSpec spec;
  bool closed = false;
  ShareState share;
};
Effective EffectiveFor(const Target& t, const LimiterSpec* basis) {
  Effective e;
  if (!t.declared.global) {
    e.spec = t.declared;
    return e;
  }
  e.share = t.share;
  SetCaps(t.declared, &e.share);
  const StageAmounts a = StageAt(e.share, t.declared.algorithm, t.now);
  e.share.stage = a.stage;
  e.share.stage_end_ns = a.end_ns;
  e.spec = WithAmount(t.declared, a.amount, a.burst);
  if (a.amount > 0) return e;
  e.closed = true;
  const Algorithm alg = t.declared.algorithm;
  if (alg == Algorithm::kGcra || alg == Algorithm::kWindow) {
    // Units for the state word while closed: the last amounts, else the
    // caps, else 1.
    LimiterSpec b = basis != nullptr && basis->algorithm == alg
                        ? *basis
                        : WithAmount(t.declared, std::max<uint64_t>(1, e.share.cap_amount),
                                     std::max<uint64_t>(1, e.share.cap_burst));
    if (b.Capacity() == 0 || (alg == Algorithm::kGcra && b.rate == 0)) {
      b = WithAmount(t.declared, 1, 1);
    }
    e.spec = WithAmount(t.declared, alg == Algorithm::kGcra ? b.rate : b.limit, b.burst);
  }
  return e;
}

RecordDraft DraftFor(const Target& t, const Effective& e) {
  RecordDraft d;
  d.spec = e.spec;
  d.declared = t.declared;
  d.closed = e.closed;
  d.share = e.share;
  return d;
}

// Opens the first `len` entries of a ring/table fresh (never granted).
void OpenFresh(const Mapping& m, Algorithm alg, uint64_t ring_off, uint64_t len, int64_t now) {
  if (len == 0) return;
  if (alg == Algorithm::kSliding) {
    auto* words = m.ArenaAt<std::atomic<int64_t>>(ring_off + sizeof(RingHeader), len);
    for (uint64_t i = 0; i < len; ++i) words[i].store(kFreeStamp, std::memory_order_release);
  } else if (alg == Algorithm::kLease) {
    auto* e = m.ArenaAt<HolderEntry>(ring_off, len);
    for (uint64_t i = 0; i < len; ++i) {
      e[i].free_since_ns.store(now == 0 ? INT64_MIN : now, std::memory_order_relaxed);
      e[i].expiry.store(lease::kUnusedExpiry, std::memory_order_release);
    }
  }
}

// REQUIRES: we hold the slot in INIT.
Status InitSlot(Mapping& m, SlotLayout* slot, std::string_view name, const Target& t) {
  std::memset(slot->name, 0, sizeof slot->name);
  std::memcpy(slot->name, name.data(), name.size());
  const Effective e = EffectiveFor(t, nullptr);
  InitState(slot, e.spec);
  auto fail = [&](const Status& s) {
    slot->status.store(MakeStatus(kSlotEmpty, 0), std::memory_order_release);
    return s;
  };
  StatusOr<uint64_t> records = AllocateRecords(m);
  if (!records.ok()) return fail(records.status());
  slot->records_off = *records;
  RecordDraft d = DraftFor(t, e);
  d.published_ns = platform::NowNs();
  const uint64_t len = e.closed ? 0 : RingLen(e.spec);
  // A global limiter's ring is sized for its cap at once (shares move
  // within it, in place).
  d.ring_cap = std::max(len, t.declared.global ? RingLen(t.declared) : 0);
  StatusOr<uint64_t> ring = AllocateRing(m, e.spec.algorithm, d.ring_cap);
  if (!ring.ok()) return fail(ring.status());
  d.ring_off = *ring;
  if (d.ring_off == 0) d.ring_cap = 0;
  OpenFresh(m, e.spec.algorithm, d.ring_off, len, 0);
  StatusOr<uint64_t> word = WriteRecord(m, slot, d);
  if (!word.ok()) return fail(word.status());
  slot->params_off.store(*word, std::memory_order_release);
  slot->status.store(MakeStatus(kSlotReady, 0), std::memory_order_release);
  return Status::OK();
}

// Seals the first `len` words of a ring and returns their values (a word
// that a dead updater already sealed counts as a grant made just now).
std::vector<int64_t> SealRing(std::atomic<int64_t>* words, uint64_t len, int64_t now) {
  std::vector<int64_t> v(len);
  for (uint64_t i = 0; i < len; ++i) {
    v[i] = words[i].exchange(kSealed, std::memory_order_acq_rel);
    if (v[i] == kSealed) v[i] = now;
  }
  return v;
}

// A ring or table change: where the new one is, and what to write into it
// once the new parameters are published.
struct RingPlan {
  uint64_t ring_off = 0;
  uint64_t ring_cap = 0;
  Carry carry;
  std::vector<int64_t> words;  // sliding: the first words.size() words, after publishing
};

// The ring for `len` entries: the current one, in place, when it is large
// enough, else a new one of at least twice its capacity (so a limiter that
// keeps changing reallocates O(log max) times in its life).
StatusOr<RingPlan> PlaceRing(Mapping& m, const ActiveParams& cur, Algorithm alg, uint64_t len) {
  RingPlan plan;
  if (len == 0 || (cur.ring_off != 0 && len <= cur.ring_cap)) {
    plan.ring_off = cur.ring_off;
    plan.ring_cap = cur.ring_cap;
    return plan;
  }
  plan.ring_cap = GrownCap(alg, cur.ring_cap, len);
  StatusOr<uint64_t> r = AllocateRing(m, alg, plan.ring_cap);
  if (!r.ok()) return r.status();
  plan.ring_off = *r;
  return plan;
}

// New ring contents for a sliding limiter. Every grant time of the old
// ring, and the grants an earlier shrink carried (counted as made at
// carry.until_ns), moved so that it frees when it did under the old window,
// that has not expired goes into the new ring, newest first; what does not
// fit is carried: `count` grants dated at the latest of them (a later time
// than each one's own: conservative). A later grow puts carried grants back
// into ring words before any word is free, so a shrink followed by a grow
// never forgets a grant (docs/design.md). The old words are sealed first,
// which stops a process stalled mid-decision from granting on them; the
// new values are written after the new parameters are published (sliding.h
// invariant 7).
StatusOr<RingPlan> ResizeSliding(Mapping& m, const ActiveParams& cur, const LimiterSpec& spec,
                                 uint64_t len, int64_t now) {
  StatusOr<RingPlan> plan = PlaceRing(m, cur, Algorithm::kSliding, len);
  if (!plan.ok()) return plan;
  std::vector<int64_t> live =
      cur.ring.len > 0 ? SealRing(cur.ring.words, cur.ring.len, now) : std::vector<int64_t>{};
  // sliding.h invariant 8: sealed words never free; a scan from now on
  // sees the seals or the new values only.
  sliding::ForgetFreeAt(cur.ring.free_at, cur.ring.free_seq);
  // A shorter window must not free a grant before the old window said:
  // its time moves later by old - new window. A longer window counts every
  // grant for the new window (no move), and also the grants of the last
  // new window that the old ring no longer shows (each word keeps only its
  // latest grant): at most one per word and old window, dated as late as
  // they can have been. Window changes can only deny more; repeated
  // shrinks faster than a window push times later (utilisation, never the
  // bound).
  const int64_t shift = std::max<int64_t>(0, cur.spec.window_ns - spec.window_ns);
  auto keep_free_time = [&](int64_t v) {
    if (v <= kFreeStamp / 2) return v;  // never granted: free under any window
    const __int128 moved = static_cast<__int128>(v) + shift;
    return moved > INT64_MAX / 2 ? INT64_MAX / 2 : static_cast<int64_t>(moved);
  };
  for (int64_t& v : live) v = keep_free_time(v);
  Carry carried = cur.carry;
  if (carried.count > 0) carried.until_ns = keep_free_time(carried.until_ns);
  auto expired = [&](int64_t v) { return v != kSealed && v <= now - spec.window_ns; };
  // (time, grants) newest first: a ring word's grant each, the hidden and
  // the carried grants one entry each (each lot shares one time), so the
  // cost is the ring's length, however many grants are carried.
  std::vector<std::pair<int64_t, uint64_t>> lots;
  lots.reserve(live.size() + 2);
  for (int64_t v : live) {
    if (!expired(v)) lots.push_back({v, 1});
  }
  if (spec.window_ns > cur.spec.window_ns) {
    const __int128 per_word =
        (spec.window_ns - cur.spec.window_ns + cur.spec.window_ns - 1) / cur.spec.window_ns;
    const __int128 hidden = per_word * cur.ring.len;
    if (hidden > 0) {
      lots.push_back({now - cur.spec.window_ns,
                      static_cast<uint64_t>(std::min<__int128>(hidden, kMaxSlidingLimit))});
    }
  }
  if (carried.count > 0 && !expired(carried.until_ns)) {
    lots.push_back({carried.until_ns, carried.count});
  }
  std::sort(lots.begin(), lots.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  // Words without a live grant are free from `now` on, not before: a
  // decision with a clock older than this change must not date a grant on
  // a word whose previous grant was dropped as expired at `now`.
  const int64_t free_from_now = now - spec.window_ns;
  plan->words.assign(len, free_from_now);
  uint64_t placed = 0;
  uint64_t left = 0;  // grants that do not fit: carried
  for (const auto& [t, n] : lots) {
    const uint64_t fit = std::min<uint64_t>(n, len - placed);
    for (uint64_t k = 0; k < fit; ++k) plan->words[placed++] = t;
    if (fit < n) {
      if (left == 0) plan->carry.until_ns = t;  // the newest that does not fit
      left += n - fit;
    }
  }
  // More than the largest ring can hold would fill any later ring anyway.
  if (left > 0) {
    plan->carry.count = static_cast<uint32_t>(std::min<uint64_t>(left, kMaxSlidingLimit));
  }
  return plan;
}

// Writes a sliding plan's words (after the parameters are published).
void FillSliding(const Mapping& m, const RingPlan& plan) {
  if (plan.words.empty()) return;
  auto* words =
      m.ArenaAt<std::atomic<int64_t>>(plan.ring_off + sizeof(RingHeader), plan.words.size());
  // release: a grant CAS (acquire) that reads one of these values also
  // sees the published params_off (sliding.h invariant 7).
  // From the top down: word 0 last, so a fill a dead updater left half done
  // still shows in word 0 (Sealed()).
  for (uint64_t i = plan.words.size(); i-- > 0;) {
    words[i].store(plan.words[i], std::memory_order_release);
  }
  // sliding.h invariant 8: the new words may free before a bound
  // remembered for the old ones.
  if (auto* hdr = m.ArenaAt<RingHeader>(plan.ring_off, 1)) {
    sliding::ForgetFreeAt(&hdr->free_at, &hdr->free_seq);
  }
}

// New holder table for a lease limiter, in place where it fits (entries
// keep their index, so held leases stay valid). Leases held in entries a
// shrink drops are carried: their count and latest expiry, before which
// nothing is granted. A grow puts carried leases back into its new entries
// (as anonymous holds lapsing at the carried expiry), and the gate lifts
// once none is left to carry. Entries a dead updater left sealed count as
// held for a ttl from now.
StatusOr<RingPlan> ResizeLease(Mapping& m, const ActiveParams& cur, uint64_t len, int64_t now) {
  StatusOr<RingPlan> plan = PlaceRing(m, cur, Algorithm::kLease, len);
  if (!plan.ok()) return plan;
  if (cur.carry.count > 0 && cur.carry.until_ns > now) plan->carry = cur.carry;
  Carry& carry = plan->carry;
  const bool in_place = plan->ring_off == cur.ring_off;
  HolderEntry* entries =
      plan->ring_cap > 0 ? m.ArenaAt<HolderEntry>(plan->ring_off, plan->ring_cap) : nullptr;
  const int64_t dead_hold = now + cur.spec.ttl_ns;
  auto keep = [&](HolderEntry& n, int64_t e) {
    if (e == kSealed) {  // sealed by a dead updater: held, for all we know
      n.owner.store(0, std::memory_order_relaxed);
      n.granted_ns.store(now, std::memory_order_relaxed);
      e = dead_hold;
    }
    n.expiry.store(e, std::memory_order_release);
  };
  auto drop = [&](int64_t e) {
    if (e == kSealed) e = dead_hold;
    if (e > now) {
      ++carry.count;
      carry.until_ns = std::max(carry.until_ns, e);
    }
  };
  if (in_place) {
    // Past the new count, from the top down (so a half-done shrink shows
    // in the last entry: Sealed()).
    for (uint64_t i = cur.table.len; i-- > len;) {
      drop(cur.table.entries[i].expiry.exchange(kSealed, std::memory_order_acq_rel));
    }
    for (uint64_t i = 0; i < std::min(len, cur.table.len); ++i) {
      HolderEntry& h = cur.table.entries[i];
      if (h.expiry.load(std::memory_order_acquire) == kSealed) keep(h, kSealed);
    }
  } else {
    for (uint64_t i = 0; i < cur.table.len; ++i) {
      HolderEntry& o = cur.table.entries[i];
      const int64_t e = o.expiry.exchange(kSealed, std::memory_order_acq_rel);
      if (i >= len) {
        drop(e);
        continue;
      }
      HolderEntry& n = entries[i];
      n.owner.store(o.owner.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.owner_pidns.store(o.owner_pidns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.free_since_ns.store(o.free_since_ns.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
      n.token.store(o.token.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.granted_ns.store(o.granted_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      keep(n, e);
    }
  }
  // A grow: carried leases take the new entries first (owner 0: never
  // reclaimed, never released; they lapse at the carried expiry), the rest
  // are free from now on. Nobody looks at them before the publish.
  for (uint64_t i = cur.table.len; i < len; ++i) {
    HolderEntry& n = entries[i];
    n.owner.store(0, std::memory_order_relaxed);
    n.owner_pidns.store(0, std::memory_order_relaxed);
    n.granted_ns.store(now, std::memory_order_relaxed);
    n.free_since_ns.store(now, std::memory_order_relaxed);
    if (carry.count > 0) {
      n.expiry.store(carry.until_ns, std::memory_order_release);
      --carry.count;
    } else {
      n.expiry.store(lease::kUnusedExpiry, std::memory_order_release);
    }
  }
  if (carry.count == 0) carry.until_ns = INT64_MIN;
  return plan;
}

// The time from which a limiter changed from `cur` to `next` at `now` can
// no longer be using more than next's amount (docs/fleet.md "drained").
// Grows keep the earlier time; gcra's is finished by the caller (the debt
// after conversion).
int64_t DrainedAfter(const ActiveParams& cur, const LimiterSpec& next, const Carry& next_carry,
                     int64_t now) {
  const int64_t prev = cur.share.drained_ns;
  const LimiterSpec& was = cur.spec;  // 0 amounts when closed
  switch (next.algorithm) {
    case Algorithm::kGcra:
      // The debt held now is added by the caller.
      if (next.rate < was.rate || next.burst < was.burst) return std::max(prev, now);
      return prev;
    case Algorithm::kWindow: {
      if (next.limit >= was.limit) return prev;
      const int64_t w = cur.basis.window_ns;
      const int64_t end = now <= 0 ? now : (now / w + 1) * w;
      return std::max(prev, end);
    }
    case Algorithm::kSliding:
      if (next.limit >= was.limit) return prev;
      if (next.window_ns != was.window_ns) {
        return std::max(prev, now + std::max(was.window_ns, next.window_ns));
      }
      // Same window: every grant still in it was carried into the new ring
      // (ResizeSliding), newest first. If they all fit, the host uses no
      // more than the new amount from now on; else the ones that did not
      // fit (all dated no later than the carry's time) leave the window
      // one window after it.
      return std::max(prev, next_carry.count > 0 ? next_carry.until_ns + next.window_ns : now);
    case Algorithm::kLease:
      if (next.holders >= was.holders) return prev;
      return std::max({prev, now, next_carry.count > 0 ? next_carry.until_ns : now});
  }
  return prev;
}

// Changes the parameters live (or repairs a change a dead updater left
// half done), holding the slot's UPDATING baton. REQUIRES: the baton.
Status Change(Mapping& m, SlotLayout* slot, const ActiveParams& cur, const Target& t,
              bool took_over) {
  const int64_t now = platform::NowNs();
  const Effective e = EffectiveFor(t, &cur.basis);
  const LimiterSpec& spec = e.spec;
  if (spec.algorithm != cur.spec.algorithm) {
    return Status(Code::kExists, "limiter '" + NameOf(*slot) + "': its algorithm cannot change");
  }
  RecordDraft d = DraftFor(t, e);
  d.share.epoch = t.share.epoch;
  d.share.drained_ns = cur.share.drained_ns;
  d.ring_off = cur.ring_off;
  d.ring_cap = cur.ring_cap;
  d.carry = cur.carry;
  d.amount_gen = cur.amount_gen;
  d.published_ns = now;
  const bool window_state_unknown = took_over && spec.algorithm == Algorithm::kWindow;
  const bool same = spec == cur.basis && e.closed == cur.closed && !Sealed(cur) &&
                    !StateSealed(slot, cur) && !window_state_unknown;
  // A lease table's bound (lease_table.h invariant 9) is forgotten by every
  // change, first (so a repair of an updater that died after publishing
  // forgets a bound learnt from the old table) and after publishing.
  const bool lease = spec.algorithm == Algorithm::kLease;
  if (lease) slot->full_until.store(0, std::memory_order_seq_cst);
  if (same) {
    // Only the definition's caps or the share's bookkeeping change: a new
    // record over the same ring and state. Decisions under the old record
    // used the same amounts.
    const bool nothing = d.declared == cur.declared && d.share.stage == cur.share.stage &&
                         d.share.stage_end_ns == cur.share.stage_end_ns &&
                         d.share.share_amount == cur.share.share_amount &&
                         d.share.share_burst == cur.share.share_burst &&
                         d.share.share_expires_ns == cur.share.share_expires_ns &&
                         d.share.fallback_amount == cur.share.fallback_amount &&
                         d.share.fallback_burst == cur.share.fallback_burst &&
                         d.share.fallback_until_ns == cur.share.fallback_until_ns &&
                         d.share.epoch == cur.share.epoch;
    if (nothing) return Status::OK();
    StatusOr<uint64_t> word = WriteRecord(m, slot, d);
    if (!word.ok()) return word.status();
    slot->params_off.store(*word, std::memory_order_release);
    slot->defined_seq.fetch_add(1, std::memory_order_relaxed);
    slot->wake_seq.fetch_add(1, std::memory_order_seq_cst);
    platform::FutexWakeAll(&slot->wake_seq);
    return Status::OK();
  }
  ++d.amount_gen;  // decisions and turns taken under cur no longer stand
  const uint64_t len = e.closed ? 0 : RingLen(spec);
  RingPlan plan;
  if (spec.algorithm == Algorithm::kSliding) {
    StatusOr<RingPlan> p = ResizeSliding(m, cur, spec, len, now);
    if (!p.ok()) return p.status();
    plan = std::move(*p);
  } else if (spec.algorithm == Algorithm::kLease) {
    const bool same_table = len == cur.table.len && !Sealed(cur);
    if (!same_table) {
      StatusOr<RingPlan> p = ResizeLease(m, cur, len, now);
      if (!p.ok()) return p.status();
      plan = std::move(*p);
    } else {
      // A ttl-only change keeps the table: a claim in flight may still use
      // the old ttl for its one lease; the holder count is never exceeded.
      plan.ring_off = cur.ring_off;
      plan.ring_cap = cur.ring_cap;
      if (cur.carry.count > 0 && cur.carry.until_ns > now) plan.carry = cur.carry;
    }
  }
  if (spec.algorithm == Algorithm::kSliding || spec.algorithm == Algorithm::kLease) {
    d.ring_off = plan.ring_off;
    d.ring_cap = plan.ring_off == 0 ? 0 : plan.ring_cap;
    d.carry = plan.carry;
  } else {
    d.carry = Carry{};
  }
  const LimiterSpec next_amounts = e.closed ? WithAmount(spec, 0, 0) : spec;
  d.share.drained_ns = DrainedAfter(cur, next_amounts, d.carry, now);
  // gcra and window: the state word is sealed (exchanged with kSealed)
  // before the new parameters are published and given its new value after
  // (gcra.h invariant 5, window.h): a decision that read the old parameters
  // finds a value its CAS cannot match, and one that meets the seal reloads
  // (and repairs, if this updater dies in between). gcra keeps its debt in
  // permits (gcra.h invariant 6); a window state is bumped, or marked full
  // for a new window length.
  const bool is_gcra = spec.algorithm == Algorithm::kGcra;
  const bool is_window = spec.algorithm == Algorithm::kWindow;
  const gcra::Params new_gcra =
      is_gcra ? gcra::MakeParams(spec.rate, spec.period_ns, spec.burst) : gcra::Params{};
  const window::Params new_window{spec.limit, spec.window_ns};
  std::atomic<int64_t> next_state{0};  // the state word's value after the change
  if (is_gcra || is_window) {
    const int64_t was = slot->state.exchange(kSealed, std::memory_order_acq_rel);
    const bool unknown = was == kSealed;  // a dead updater sealed it: its value is lost
    const int64_t at = platform::NowNs();
    if (is_gcra) {
      // Unknown: as if the whole burst had just been taken (in cur's units).
      next_state.store(unknown ? at + cur.gcra.tau : was, std::memory_order_relaxed);
      gcra::ConvertState(next_state, cur.gcra, new_gcra, at);  // always moves the word
    } else {
      next_state.store(unknown ? 0 : was, std::memory_order_relaxed);
      if (unknown || window_state_unknown) {
        window::MarkFull(next_state, new_window, at);
      } else {
        const bool shorter = spec.window_ns < cur.window.window_ns;
        if (shorter) {
          // Full until the old window ends: the old limit may already be
          // used up in it, and each new, shorter window inside it would add
          // its own.
          const int64_t w_old = cur.window.window_ns;
          const int64_t old_end = at <= 0 ? at : (at / w_old + 1) * w_old - 1;
          window::MarkFull(next_state, new_window, std::max(at, old_end));
        }
        window::BumpState(next_state, shorter ? new_window : cur.window, new_window, at);
      }
    }
  }
  const bool gcra_shrink =
      is_gcra && (next_amounts.rate < cur.spec.rate || next_amounts.burst < cur.spec.burst);
  if (gcra_shrink) {
    // A shrink: drained once the debt now held is paid at the new rate.
    const int64_t tat = next_state.load(std::memory_order_relaxed);
    if (tat > now) d.share.drained_ns = std::max(d.share.drained_ns, std::min(tat, INT64_MAX / 2));
  }
  StatusOr<uint64_t> word = WriteRecord(m, slot, d);
  if (!word.ok()) return word.status();
  slot->params_off.store(*word, std::memory_order_release);
  if (lease) {
    // seq_cst fence: a scan whose params_off re-check missed this publish
    // stored its bound before this store of 0 (invariant 9).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    slot->full_until.store(0, std::memory_order_seq_cst);
  }
  // Then the ring's new words (sliding.h invariant 7) or the state word.
  FillSliding(m, plan);
  if (is_gcra || is_window) {
    // release: a decision that reads the new value also sees params_off.
    slot->state.store(next_state.load(std::memory_order_relaxed), std::memory_order_release);
  }
  slot->defined_seq.fetch_add(1, std::memory_order_relaxed);
  // Lease waiters and closed limiters' sleepers re-read the parameters.
  slot->wake_seq.fetch_add(1, std::memory_order_seq_cst);
  platform::FutexWakeAll(&slot->wake_seq);
  return Status::OK();
}

// Takes the UPDATING baton (waiting for a live holder unless `try_only`),
// runs `body` with the current parameters, and gives the baton back.
template <typename Body>
Status WithBaton(Mapping& m, SlotLayout* slot, uint32_t index, bool try_only, Body&& body) {
  Status err;
  bool took_over = false;  // from a dead updater: its state change is unknown
  uint64_t baton = 0;
  if (try_only) {
    uint64_t st = slot->status.load(std::memory_order_acquire);
    if (StatusState(st) != kSlotReady && !BatonHolderGone(st)) {
      return Status(Code::kTimeout, "limiter is being changed");
    }
    took_over = StatusState(st) != kSlotReady;
    baton = Baton(kSlotUpdating);
    if (!slot->status.compare_exchange_strong(st, baton, std::memory_order_acq_rel)) {
      return Status(Code::kTimeout, "limiter is being changed");
    }
  } else {
    baton = TakeBaton(slot, index, kSlotReady, kSlotUpdating, &err, &took_over);
    if (baton == 0) return err;
  }
  Status s;
  StatusOr<ActiveParams> cur = LoadParams(m, slot);
  if (!cur.ok()) {
    s = cur.status();
  } else {
    s = body(*cur, took_over);
  }
  uint64_t expected = baton;
  if (!slot->status.compare_exchange_strong(expected, MakeStatus(kSlotReady, 0),
                                            std::memory_order_release)) {
    return Status(Code::kIo, "update of limiter slot " + std::to_string(index) + " was taken over");
  }
  return s;
}

// The target that keeps `cur` as it is (a repair, a lapse).
Target Keep(const ActiveParams& cur, int64_t now) {
  Target t;
  t.declared = cur.declared;
  t.share = cur.share;
  t.now = now;
  return t;
}

}  // namespace

std::string NameOf(const SlotLayout& slot) {
  return std::string(slot.name, strnlen(slot.name, sizeof slot.name - 1));
}

StatusOr<uint32_t> Define(Mapping& m, std::string_view name, const LimiterSpec& spec) {
  if (Status s = ValidateName(name, "limiter"); !s.ok()) return s;
  if (Status s = spec.Validate(); !s.ok()) return s;
  if (m.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  for (uint32_t i = 0; i < m.capacity(); ++i) {
    SlotLayout* slot = m.slot(i);
    for (;;) {
      const uint64_t st = slot->status.load(std::memory_order_acquire);
      const SlotState s = StatusState(st);
      if (s == kSlotEmpty || s == kSlotInit) {
        Status err;
        if (TakeBaton(slot, i, kSlotEmpty, kSlotInit, &err) == 0) {
          if (err.code() == Code::kExists) continue;  // someone finished: re-read
          return err;
        }
        Target t;
        t.declared = spec;
        t.now = platform::NowNs();
        if (Status r = InitSlot(m, slot, name, t); !r.ok()) return r;
        return i;
      }
      if (s != kSlotReady && s != kSlotUpdating && s != kSlotRetired) {
        return Status(Code::kCorrupt,
                      "limiter slot " + std::to_string(i) + " has an invalid status");
      }
      if (!NameIs(*slot, name)) break;  // next slot
      StatusOr<ActiveParams> cur = LoadParams(m, slot);
      if (!cur.ok()) return cur.status();
      if (cur->spec.algorithm != spec.algorithm) {
        return Status(Code::kExists, "limiter '" + std::string(name) + "' already exists as " +
                                         cur->declared.Describe() +
                                         "; its algorithm cannot change");
      }
      if (s == kSlotRetired) {
        uint64_t expected = st;
        slot->status.compare_exchange_strong(expected, MakeStatus(kSlotReady, 0),
                                             std::memory_order_acq_rel);
        continue;  // re-read, then compare parameters
      }
      if (cur->declared == spec && !Sealed(*cur) && !StateSealed(slot, *cur) &&
          !BatonHolderGone(st)) {
        return i;
      }
      Status u = WithBaton(m, slot, i, false, [&](const ActiveParams& now_cur, bool took_over) {
        // A global limiter keeps its share (the definition sets its caps);
        // one that stops being global forgets it.
        Target t = Keep(now_cur, platform::NowNs());
        t.declared = spec;
        if (!spec.global) t.share = ShareState{};
        return Change(m, slot, now_cur, t, took_over);
      });
      if (!u.ok()) return u;
      return i;
    }
  }
  return Status(Code::kFull, "all " + std::to_string(m.capacity()) +
                                 " limiter slots of namespace '" + m.ns() + "' are used");
}

StatusOr<uint32_t> Find(const Mapping& m, std::string_view name) {
  for (uint32_t i = 0; i < m.capacity(); ++i) {
    const SlotLayout* slot = m.slot(i);
    const SlotState s = StatusState(slot->status.load(std::memory_order_acquire));
    if (s == kSlotEmpty) break;
    if ((s == kSlotReady || s == kSlotUpdating) && NameIs(*slot, name)) return i;
  }
  return Status(Code::kNotFound,
                "no limiter '" + std::string(name) + "' in namespace '" + m.ns() + "'");
}

std::vector<uint32_t> List(const Mapping& m) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < m.capacity(); ++i) {
    const SlotState s = StatusState(m.slot(i)->status.load(std::memory_order_acquire));
    if (s == kSlotEmpty) break;
    if (s == kSlotReady || s == kSlotUpdating) out.push_back(i);
  }
  return out;
}

Status Repair(Mapping& m, uint32_t index) {
  if (m.read_only() || index >= m.capacity()) return Status::OK();
  SlotLayout* slot = m.slot(index);
  const uint64_t st = slot->status.load(std::memory_order_acquire);
  if (!BatonHolderGone(st)) return Status::OK();
  Status s = WithBaton(m, slot, index, true, [&](const ActiveParams& cur, bool took_over) {
    return Change(m, slot, cur, Keep(cur, platform::NowNs()), took_over);
  });
  return s.code() == Code::kTimeout ? Status::OK() : s;
}

Status Lapse(Mapping& m, uint32_t index, uint64_t seen_word, int64_t now) {
  if (m.read_only() || index >= m.capacity()) return Status::OK();
  SlotLayout* slot = m.slot(index);
  return WithBaton(m, slot, index, true, [&](const ActiveParams& cur, bool took_over) {
    if (cur.off != seen_word) return Status::OK();  // someone else did it
    return Change(m, slot, cur, Keep(cur, now), took_over);
  });
}

Status PublishShare(Mapping& m, uint32_t index, const ShareState& share, int64_t now) {
  if (m.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  if (index >= m.capacity()) return Status(Code::kInvalidArgument, "slot index out of range");
  SlotLayout* slot = m.slot(index);
  return WithBaton(m, slot, index, false, [&](const ActiveParams& cur, bool took_over) {
    if (!cur.declared.global) {
      return Status(Code::kInvalidArgument,
                    "limiter '" + NameOf(*slot) + "' is not a global limiter (global = true)");
    }
    if (share.epoch < cur.share.epoch) {
      return Status(Code::kExists, "limiter '" + NameOf(*slot) + "': a share of epoch " +
                                       std::to_string(share.epoch) +
                                       " is older than the one in force (epoch " +
                                       std::to_string(cur.share.epoch) + ")");
    }
    Target t = Keep(cur, now);
    t.share.stage = kStageShare;  // StageAt picks the stage in force at `now`
    t.share.share_amount = share.share_amount;
    t.share.share_burst = share.share_burst;
    t.share.share_expires_ns = share.share_expires_ns;
    t.share.fallback_amount = share.fallback_amount;
    t.share.fallback_burst = share.fallback_burst;
    t.share.fallback_until_ns = share.fallback_until_ns;
    t.share.epoch = share.epoch;
    return Change(m, slot, cur, t, took_over);
  });
}

Status Retire(Mapping& m, std::string_view name) {
  if (m.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  StatusOr<uint32_t> i = Find(m, name);
  if (!i.ok()) return i.status();
  SlotLayout* slot = m.slot(*i);
  uint64_t st = MakeStatus(kSlotReady, 0);
  if (!slot->status.compare_exchange_strong(st, MakeStatus(kSlotRetired, 0),
                                            std::memory_order_acq_rel)) {
    return Status(Code::kExists, "limiter '" + std::string(name) + "' is being updated; try again");
  }
  return Status::OK();
}

}  // namespace sluice::slots
