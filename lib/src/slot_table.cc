#include "slot_table.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "gcra.h"
#include "window.h"
#include "params.h"
#include "sluice/duration.h"
#include "platform.h"

namespace sluice::slots {
namespace {

constexpr int64_t kWaitForPeerNs = 5 * kNanosPerSecond;

void Nap() {
  timespec ts{0, 50 * 1000};
  nanosleep(&ts, nullptr);
}

bool NameIs(const SlotLayout& slot, std::string_view name) {
  return NameOf(slot) == name;
}

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
uint64_t TakeBaton(SlotLayout* slot, uint32_t index, SlotState want_from, SlotState to,
                   Status* err) {
  const uint64_t mine = Baton(to);
  const int64_t deadline = platform::NowNs() + kWaitForPeerNs;
  for (;;) {
    uint64_t st = slot->status.load(std::memory_order_acquire);
    const SlotState s = StatusState(st);
    const bool busy = s == kSlotInit || s == kSlotUpdating;
    if (s == want_from || BatonHolderGone(st)) {
      if (slot->status.compare_exchange_strong(st, mine, std::memory_order_acq_rel)) return mine;
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
  for (auto* c : {&slot->granted, &slot->denied, &slot->asked, &slot->waits, &slot->wait_ns,
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
  StatusOr<uint64_t> off = WriteParams(m, spec, 0, INT64_MIN);
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

// New params for a sliding limiter: the newest min(old, new) grant times
// move to the new ring, so when any word frees, every dropped (older) grant
// has expired too.
// Every change gets a new ring, also when only `window` changes: sealing
// the old one is what stops a process stalled mid-decision from granting
// under the old parameters.
StatusOr<uint64_t> ResizeSliding(Mapping& m, SlotLayout* slot, const ActiveParams& cur,
                                 const LimiterSpec& spec) {
  StatusOr<uint64_t> fresh = WriteParams(m, spec, 0, INT64_MIN);
  if (!fresh.ok()) return fresh;
  StatusOr<ActiveParams> next = LoadParams(m, slot, *fresh);
  if (!next.ok()) return next.status();
  std::vector<int64_t> old = SealRing(cur.ring.words, cur.ring.len, platform::NowNs());
  std::sort(old.begin(), old.end(), std::greater<int64_t>());
  for (uint64_t i = 0; i < std::min<uint64_t>(old.size(), spec.limit); ++i) {
    next->ring.words[i].store(old[i], std::memory_order_relaxed);
  }
  return fresh;
}

// New params for a lease limiter: entries keep their index (held leases
// stay valid); entries dropped by a shrink gate new grants until they lapse.
// (A ttl-only change keeps the table: a claim in flight may still use the
// old ttl for its one lease; the holder count is never exceeded.)
StatusOr<uint64_t> ResizeLease(Mapping& m, SlotLayout* slot, const ActiveParams& cur,
                               const LimiterSpec& spec) {
  if (spec.holders == cur.spec.holders && !Sealed(cur)) {
    return WriteParams(m, spec, cur.ring_off, cur.table.gate_until_ns);
  }
  // Allocate the new table first (free entries), fill it, then publish.
  StatusOr<uint64_t> fresh = WriteParams(m, spec, 0, INT64_MIN);
  if (!fresh.ok()) return fresh;
  StatusOr<ActiveParams> next = LoadParams(m, slot, *fresh);
  if (!next.ok()) return next.status();
  const int64_t now = platform::NowNs();
  int64_t gate = cur.table.gate_until_ns;
  for (uint64_t i = 0; i < cur.table.len; ++i) {
    HolderEntry& o = cur.table.entries[i];
    int64_t e = o.expiry.exchange(kSealed, std::memory_order_acq_rel);
    if (e == kSealed) e = now + cur.spec.ttl_ns;  // sealed by a dead updater
    if (i < spec.holders) {
      HolderEntry& n = next->table.entries[i];
      n.owner.store(o.owner.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.owner_pidns.store(o.owner_pidns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.free_since_ns.store(o.free_since_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.token.store(o.token.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.granted_ns.store(o.granted_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
      n.expiry.store(e, std::memory_order_relaxed);
    } else if (e > now) {
      gate = std::max(gate, e);
    }
  }
  if (gate == cur.table.gate_until_ns) return fresh;
  // The record is immutable once written: write one more with the gate.
  return WriteParams(m, spec, next->ring_off, gate);
}

// Changes the parameters live (or repairs a change a dead updater left
// half done), holding the slot's UPDATING baton.
Status Update(Mapping& m, SlotLayout* slot, uint32_t index, const LimiterSpec& spec) {
  Status err;
  const uint64_t baton = TakeBaton(slot, index, kSlotReady, kSlotUpdating, &err);
  if (baton == 0) return err;
  auto finish = [&](const Status& s) {
    uint64_t expected = baton;
    if (!slot->status.compare_exchange_strong(expected, MakeStatus(kSlotReady, 0),
                                              std::memory_order_release)) {
      return Status(Code::kIo, "update of limiter slot " + std::to_string(index) + " was taken over");
    }
    return s;
  };
  StatusOr<ActiveParams> cur = LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
  if (!cur.ok()) return finish(cur.status());
  if (cur->spec == spec && !Sealed(*cur)) return finish(Status::OK());
  StatusOr<uint64_t> off = Status(Code::kInvalidArgument, "unreachable");
  switch (spec.algorithm) {
    case Algorithm::kSliding: off = ResizeSliding(m, slot, *cur, spec); break;
    case Algorithm::kLease: off = ResizeLease(m, slot, *cur, spec); break;
    default: off = WriteParams(m, spec, 0, INT64_MIN); break;
  }
  if (!off.ok()) return finish(off.status());
  slot->params_off.store(*off, std::memory_order_release);
  // Then change the state word, so decisions still using the old
  // parameters fail their CAS (gcra.h invariant 5).
  if (spec.algorithm == Algorithm::kGcra) {
    gcra::BumpState(slot->state);
  } else if (spec.algorithm == Algorithm::kWindow) {
    window::BumpState(slot->state, cur->window, window::Params{spec.limit, spec.window_ns},
                      platform::NowNs());
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
        return Status(Code::kCorrupt, "limiter slot " + std::to_string(i) + " has an invalid status");
      }
      if (!NameIs(*slot, name)) break;  // next slot
      StatusOr<ActiveParams> cur = LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
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
  return Status(Code::kNotFound, "no limiter '" + std::string(name) + "' in namespace '" + m.ns() + "'");
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
  StatusOr<ActiveParams> cur = LoadParams(m, slot, slot->params_off.load(std::memory_order_acquire));
  if (!cur.ok()) return cur.status();
  return Update(m, slot, index, cur->spec);
}

Status Retire(Mapping& m, std::string_view name) {
  if (m.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  StatusOr<uint32_t> i = Find(m, name);
  if (!i.ok()) return i.status();
  SlotLayout* slot = m.slot(*i);
  uint64_t st = MakeStatus(kSlotReady, 0);
  if (!slot->status.compare_exchange_strong(st, MakeStatus(kSlotRetired, 0), std::memory_order_acq_rel)) {
    return Status(Code::kExists, "limiter '" + std::string(name) + "' is being updated; try again");
  }
  return Status::OK();
}

}  // namespace sluice::slots
