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

// True when a resize sealed the current ring/table (a dead updater left it).
bool Sealed(const ActiveParams& p) {
  if (p.spec.algorithm == Algorithm::kSliding && p.ring.len > 0) {
    return p.ring.words[0].load(std::memory_order_relaxed) == kSealed;
  }
  if (p.spec.algorithm == Algorithm::kLease && p.table.len > 0) {
    return p.table.entries[0].expiry.load(std::memory_order_relaxed) == kSealed;
  }
  return false;
}

void InitState(SlotLayout* slot, const LimiterSpec& spec) {
  slot->state.store(spec.algorithm == Algorithm::kGcra ? gcra::kInitialTat : 0,
                    std::memory_order_relaxed);
  slot->token.store(0, std::memory_order_relaxed);
  slot->ring_hint.store(0, std::memory_order_relaxed);
  slot->wake_seq.store(0, std::memory_order_relaxed);
  slot->sleepers.store(0, std::memory_order_relaxed);
  for (auto* c :
       {&slot->granted, &slot->denied, &slot->asked, &slot->waits, &slot->wait_ns,
        &slot->demand_asked, &slot->demand_milli, &slot->allocation, &slot->defined_seq}) {
    c->store(0, std::memory_order_relaxed);
  }
  slot->waiting.store(0, std::memory_order_relaxed);
  slot->demand_epoch_ns.store(0, std::memory_order_relaxed);
  slot->allocation_expires_ns.store(0, std::memory_order_relaxed);
}

// REQUIRES: we hold the slot in INIT.
Status InitSlot(Mapping& m, SlotLayout* slot, std::string_view name, const LimiterSpec& spec) {
  std::memset(slot->name, 0, sizeof slot->name);
  std::memcpy(slot->name, name.data(), name.size());
  InitState(slot, spec);
  StatusOr<uint64_t> off = WriteParams(m, spec, 0, Carry{});
  if (!off.ok()) {
    slot->status.store(MakeStatus(kSlotEmpty, 0), std::memory_order_release);
    return off.status();
  }
  slot->params_off.store(*off, std::memory_order_release);
  slot->status.store(MakeStatus(kSlotReady, 0), std::memory_order_release);
  return Status::OK();
}

// Seals every word of an old ring and returns their values (a word that a
// dead updater already sealed counts as a grant made just now).
std::vector<int64_t> SealRing(std::atomic<int64_t>* words, uint64_t len, int64_t now) {
  std::vector<int64_t> v(len);
  for (uint64_t i = 0; i < len; ++i) {
    v[i] = words[i].exchange(kSealed, std::memory_order_acq_rel);
    if (v[i] == kSealed) v[i] = now;
  }
  return v;
}

// New params for a sliding limiter. Every grant time of the old ring, and
// the grants an earlier shrink carried (counted as made at carry.until_ns),
// moved so that it frees when it did under the old window, that has not
// expired goes into the new ring, newest first; what does not fit is carried: `count` grants dated
// at the latest of them (a later time than each one's own: conservative). A later grow puts carried
// grants back into ring words before any word is free, so a shrink followed by a grow never forgets
// a grant (docs/design.md). Every change gets a new ring, also when only `window` changes: sealing
// the old one is what stops a process stalled mid-decision from granting
// under the old parameters.
StatusOr<uint64_t> ResizeSliding(Mapping& m, SlotLayout* slot, const ActiveParams& cur,
                                 const LimiterSpec& spec) {
  StatusOr<ParamsSpace> space = AllocateParams(m, spec, /*fresh_ring=*/true);
  if (!space.ok()) return space.status();
  const int64_t now = platform::NowNs();
  std::vector<int64_t> live = SealRing(cur.ring.words, cur.ring.len, now);
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
  if (spec.window_ns > cur.spec.window_ns) {
    const __int128 per_word =
        (spec.window_ns - cur.spec.window_ns + cur.spec.window_ns - 1) / cur.spec.window_ns;
    const __int128 hidden = per_word * cur.ring.len;
    live.insert(live.end(), static_cast<size_t>(std::min<__int128>(hidden, kMaxSlidingLimit)),
                now - cur.spec.window_ns);
  }
  live.erase(std::remove_if(live.begin(), live.end(), expired), live.end());
  if (carried.count > 0 && !expired(carried.until_ns)) {
    live.insert(live.end(), carried.count, carried.until_ns);
  }
  std::sort(live.begin(), live.end(), std::greater<int64_t>());
  Carry carry;
  if (live.size() > spec.limit) {
    // More than the largest ring can hold would fill any later ring anyway.
    carry.count =
        static_cast<uint32_t>(std::min<uint64_t>(live.size() - spec.limit, kMaxSlidingLimit));
    carry.until_ns = live[spec.limit];  // the newest that does not fit
  }
  StatusOr<uint64_t> off = FillParams(m, spec, *space, carry);
  if (!off.ok()) return off;
  StatusOr<ActiveParams> next = LoadParams(m, slot, *off);
  if (!next.ok()) return next.status();
  // Words without a live grant are free from `now` on, not before: a
  // decision with a clock older than this change must not date a grant on
  // a word whose previous grant was dropped as expired at `now`.
  const int64_t free_from_now = now - spec.window_ns;
  for (uint64_t i = 0; i < spec.limit; ++i) {
    next->ring.words[i].store(i < live.size() ? live[i] : free_from_now, std::memory_order_relaxed);
  }
  return off;
}

// New params for a lease limiter: entries keep their index (held leases
// stay valid). Leases held in entries a shrink drops are carried: their
// count and latest expiry, before which nothing is granted. A grow puts
// carried leases back into its new entries (as anonymous holds lapsing at
// the carried expiry), and the gate lifts once none is left to carry.
StatusOr<uint64_t> ResizeLease(Mapping& m, const ActiveParams& cur, const LimiterSpec& spec) {
  const int64_t now = platform::NowNs();
  Carry carry;
  if (cur.carry.count > 0 && cur.carry.until_ns > now) carry = cur.carry;
  if (spec.holders == cur.spec.holders && !Sealed(cur)) {
    // A ttl-only change keeps the table: a claim in flight may still use
    // the old ttl for its one lease; the holder count is never exceeded.
    return WriteParams(m, spec, cur.ring_off, carry);
  }
  // Allocate the new table first (free entries), fill it, then publish.
  StatusOr<ParamsSpace> space = AllocateParams(m, spec, /*fresh_ring=*/true);
  if (!space.ok()) return space.status();
  auto* entries = m.ArenaAt<HolderEntry>(space->ring_off, spec.holders);
  if (entries == nullptr) return Status(Code::kCorrupt, "arena allocation out of bounds");
  for (uint64_t i = 0; i < cur.table.len; ++i) {
    HolderEntry& o = cur.table.entries[i];
    int64_t e = o.expiry.exchange(kSealed, std::memory_order_acq_rel);
    if (e == kSealed) e = now + cur.spec.ttl_ns;  // sealed by a dead updater
    if (i < spec.holders) {
      HolderEntry& n = entries[i];
      n.owner.store(o.owner.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.owner_pidns.store(o.owner_pidns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.free_since_ns.store(o.free_since_ns.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
      n.token.store(o.token.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.granted_ns.store(o.granted_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.expiry.store(e, std::memory_order_relaxed);
    } else if (e > now) {
      ++carry.count;
      carry.until_ns = std::max(carry.until_ns, e);
    }
  }
  // A grow: carried leases take the new entries first (owner 0: never
  // reclaimed, never released; they lapse at the carried expiry).
  for (uint64_t i = cur.table.len; i < spec.holders && carry.count > 0; ++i) {
    entries[i].expiry.store(carry.until_ns, std::memory_order_relaxed);
    entries[i].granted_ns.store(now, std::memory_order_relaxed);
    --carry.count;
  }
  if (carry.count == 0) carry.until_ns = INT64_MIN;
  return FillParams(m, spec, *space, carry);
}

// Changes the parameters live (or repairs a change a dead updater left
// half done), holding the slot's UPDATING baton.
Status Update(Mapping& m, SlotLayout* slot, uint32_t index, const LimiterSpec& spec) {
  Status err;
  bool took_over = false;  // from a dead updater: its state change is unknown
  const uint64_t baton = TakeBaton(slot, index, kSlotReady, kSlotUpdating, &err, &took_over);
  if (baton == 0) return err;
  auto finish = [&](const Status& s) {
    uint64_t expected = baton;
    if (!slot->status.compare_exchange_strong(expected, MakeStatus(kSlotReady, 0),
                                              std::memory_order_release)) {
      return Status(Code::kIo,
                    "update of limiter slot " + std::to_string(index) + " was taken over");
    }
    return s;
  };
  StatusOr<ActiveParams> cur =
      LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
  if (!cur.ok()) return finish(cur.status());
  const bool window_state_unknown = took_over && spec.algorithm == Algorithm::kWindow;
  if (cur->spec == spec && !Sealed(*cur) && !window_state_unknown) return finish(Status::OK());
  StatusOr<uint64_t> off = Status(Code::kInvalidArgument, "unreachable");
  switch (spec.algorithm) {
    case Algorithm::kSliding:
      off = ResizeSliding(m, slot, *cur, spec);
      break;
    case Algorithm::kLease:
      off = ResizeLease(m, *cur, spec);
      break;
    default:
      off = WriteParams(m, spec, 0, Carry{});
      break;
  }
  if (!off.ok()) return finish(off.status());
  // gcra keeps its debt in permits (gcra.h invariant 6). The rescaling is
  // ordered so that an updater killed between any two steps leaves a state
  // that can only deny more: a debt that grows in nanoseconds (a slower
  // rate) is rescaled before the new parameters are published, one that
  // shrinks only after.
  const bool is_gcra = spec.algorithm == Algorithm::kGcra;
  const gcra::Params new_gcra =
      is_gcra ? gcra::MakeParams(spec.rate, spec.period_ns, spec.burst) : gcra::Params{};
  const bool gcra_slower = is_gcra && new_gcra.cost1 > cur->gcra.cost1;
  // window: a state written under one window length reads as "more than
  // a window ahead" (denied) under a shorter one, and as an empty new
  // window under a longer one; so a shorter window marks the rest of the
  // old window full before it is published, a longer one its window after.
  const window::Params new_window{spec.limit, spec.window_ns};
  const bool is_window = spec.algorithm == Algorithm::kWindow;
  const bool window_shorter = is_window && spec.window_ns < cur->window.window_ns;
  if (gcra_slower) gcra::ConvertState(slot->state, cur->gcra, new_gcra, platform::NowNs());
  if (window_shorter) {
    // Full until the old window ends: the old limit may already be used up
    // in it, and each new, shorter window inside it would add its own.
    const int64_t now = platform::NowNs();
    const int64_t w_old = cur->window.window_ns;
    const int64_t old_end = now <= 0 ? now : (now / w_old + 1) * w_old - 1;
    window::MarkFull(slot->state, new_window, std::max(now, old_end));
  }
  slot->params_off.store(*off, std::memory_order_release);
  // Then change the state word, so decisions still using the old
  // parameters fail their CAS (gcra.h invariant 5).
  if (is_gcra) {
    if (gcra_slower) {
      gcra::ConvertState(slot->state, new_gcra, new_gcra, platform::NowNs());  // +1 ns
    } else {
      gcra::ConvertState(slot->state, cur->gcra, new_gcra, platform::NowNs());
    }
  } else if (is_window) {
    if (window_state_unknown) {
      window::MarkFull(slot->state, new_window, platform::NowNs());
    } else {
      window::BumpState(slot->state, window_shorter ? new_window : cur->window, new_window,
                        platform::NowNs());
    }
  }
  slot->defined_seq.fetch_add(1, std::memory_order_relaxed);
  // Lease waiters re-read the parameters.
  slot->wake_seq.fetch_add(1, std::memory_order_seq_cst);
  platform::FutexWakeAll(&slot->wake_seq);
  return finish(Status::OK());
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
        if (Status r = InitSlot(m, slot, name, spec); !r.ok()) return r;
        return i;
      }
      if (s != kSlotReady && s != kSlotUpdating && s != kSlotRetired) {
        return Status(Code::kCorrupt,
                      "limiter slot " + std::to_string(i) + " has an invalid status");
      }
      if (!NameIs(*slot, name)) break;  // next slot
      StatusOr<ActiveParams> cur =
          LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
      if (!cur.ok()) return cur.status();
      if (cur->spec.algorithm != spec.algorithm) {
        return Status(Code::kExists, "limiter '" + std::string(name) + "' already exists as " +
                                         cur->spec.Describe() + "; its algorithm cannot change");
      }
      if (s == kSlotRetired) {
        uint64_t expected = st;
        slot->status.compare_exchange_strong(expected, MakeStatus(kSlotReady, 0),
                                             std::memory_order_acq_rel);
        continue;  // re-read, then compare parameters
      }
      if (cur->spec == spec && !Sealed(*cur) && !BatonHolderGone(st)) return i;
      if (Status u = Update(m, slot, i, spec); !u.ok()) return u;
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
  StatusOr<ActiveParams> cur =
      LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
  if (!cur.ok()) return cur.status();
  return Update(m, slot, index, cur->spec);
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
