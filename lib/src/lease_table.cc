#include "lease_table.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "platform.h"

namespace sluice::lease {
namespace {

uint64_t Owner(uint32_t pid, int64_t expiry) {
  return (uint64_t{pid} << 32) | (static_cast<uint64_t>(expiry) & 0xffffffffu);
}

// True if entry value `e` may be taken at `now`.
bool Takeable(const HolderEntry& h, int64_t e, int64_t now, bool reclaim) {
  if (e == kSealed) return false;
  if (e <= 0) {
    // Released: free from its release time on (a stale `now` from before the
    // release must not date a grant inside the previous holder's lease).
    return now >= h.free_since_ns.load(std::memory_order_relaxed);
  }
  if (e <= now) return true;  // lapsed
  if (!reclaim) return false;
  // acquire: pairs with the release store of owner in Claim, so a matching
  // owner comes with its owner_pidns.
  const uint64_t o = h.owner.load(std::memory_order_acquire);
  if ((o & 0xffffffffu) != (static_cast<uint64_t>(e) & 0xffffffffu)) return false;
  const uint64_t ns = platform::PidNamespaceId();
  if (ns == 0 || h.owner_pidns.load(std::memory_order_relaxed) != ns) return false;
  return !platform::ProcessMayBeAlive(static_cast<uint32_t>(o >> 32));
}

int64_t NextExpiry(int64_t old, int64_t now, int64_t ttl) {
  // (old == INT64_MIN only in a corrupted segment: no overflow either way.)
  const int64_t prev = old < 0 ? (old == INT64_MIN ? INT64_MAX - 1 : -old) : old;
  if (prev >= INT64_MAX - 1) return INT64_MAX - 1;
  return std::max(now + ttl, prev + 1);
}

// Claims entry i (value e) for a grant at now. Returns the new expiry or 0.
int64_t Claim(const Table& t, uint64_t i, int64_t e, int64_t now) {
  HolderEntry& h = t.entries[i];
  const int64_t next = NextExpiry(e, now, t.ttl_ns);
  // seq_cst: ordered in S before this claimer's token fetch_add (invariant 3).
  if (!h.expiry.compare_exchange_strong(e, next, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
    return 0;
  }
  h.granted_ns.store(now, std::memory_order_relaxed);
  h.owner_pidns.store(platform::PidNamespaceId(), std::memory_order_relaxed);
  h.owner.store(Owner(platform::Pid(), next), std::memory_order_release);
  return next;
}

// Takes the fencing token for a claim of entry h (value `next`): true when
// the entry still holds the claim after the fetch_add (invariant 3). False:
// another claimer took the entry meanwhile (ours lapsed while we were
// preempted), and its token may be smaller than ours: not a grant.
bool TakeToken(const Table& t, HolderEntry& h, int64_t next, uint64_t* token) {
  *token = t.token->fetch_add(1, std::memory_order_seq_cst) + 1;
  if (h.expiry.load(std::memory_order_seq_cst) != next) return false;
  h.token.store(*token, std::memory_order_relaxed);
  return true;
}

// Invariant 9: after a write that frees an entry before it lapses.
void ForgetBound(const Table& t) {
  if (t.full_until != nullptr && t.full_until->load(std::memory_order_seq_cst) != 0) {
    t.full_until->store(0, std::memory_order_seq_cst);
  }
}

// After a seq_cst CAS that freed an entry before its lapse: nobody
// registered as a sleeper now means every later one sees the entry free
// (acquire.cc, WaitForLease: a store-load pair on each side); else wake
// them all.
void WakeSleepers(const Table& t) {
  if (t.sleepers != nullptr && t.sleepers->load(std::memory_order_seq_cst) > 0) {
    t.wake_seq->fetch_add(1, std::memory_order_seq_cst);
    platform::FutexWakeAll(t.wake_seq);
  }
}

// Invariant 9: the bound in force at `now`, or 0.
int64_t BoundAt(const Table& t, int64_t now) {
  if (t.full_until == nullptr) return 0;
  const int64_t b = t.full_until->load(std::memory_order_seq_cst);
  return now < b ? b : 0;
}

// Undoes a claim that never became a grant: the entry gets its previous
// value back (no handle names (i, next), so reusing values is harmless).
void Unclaim(const Table& t, uint64_t i, int64_t next, int64_t prev) {
  int64_t expected = next;
  if (t.entries[i].expiry.compare_exchange_strong(expected, prev, std::memory_order_seq_cst,
                                                  std::memory_order_relaxed)) {
    ForgetBound(t);
    WakeSleepers(t);  // one may have seen our claim and gone to sleep
  }
}

// gate_until - now without overflow (a test's clock may be far from it).
int64_t UntilGate(const Table& t, int64_t now) {
  const __int128 d = static_cast<__int128>(t.gate_until_ns) - now;
  return d > INT64_MAX / 2 ? INT64_MAX / 2 : static_cast<int64_t>(d);
}

int64_t Soonest(const Table& t, int64_t now) {
  int64_t soonest = INT64_MAX;
  for (uint64_t i = 0; i < t.len; ++i) {
    const int64_t e = t.entries[i].expiry.load(std::memory_order_relaxed);
    // (128-bit: a damaged expiry or an injected `now` must not overflow.)
    if (e > now && e != kSealed) {
      soonest = static_cast<int64_t>(
          std::min<__int128>(soonest, static_cast<__int128>(e) - static_cast<__int128>(now)));
    }
  }
  return soonest == INT64_MAX ? 1 : soonest;
}

// Invariant 9: a scan found every entry held, the soonest expiring at
// `soonest` (entry i): stores it as the bound unless another write could
// free an entry before it. Returns the wait until an entry may free.
int64_t LearnBound(const Table& t, int64_t now, int64_t soonest, uint64_t i) {
  int64_t cur = t.full_until->load(std::memory_order_seq_cst);
  if (now < cur) return cur - now;  // learnt meanwhile
  // Tentative first: -soonest (expiries are > 0), which no reader trusts.
  int64_t tentative = -soonest;
  if (!t.full_until->compare_exchange_strong(cur, tentative, std::memory_order_seq_cst)) {
    return Soonest(t, now);
  }
  bool keep = true;
  for (uint64_t k = 0; k < t.len && keep; ++k) {
    const int64_t e = t.entries[k].expiry.load(std::memory_order_seq_cst);
    keep = e >= soonest && e != kSealed;
  }
  if (keep && t.params_off != nullptr) {
    keep = t.params_off->load(std::memory_order_seq_cst) == t.word;
  }
  if (!keep) {
    t.full_until->compare_exchange_strong(tentative, 0, std::memory_order_seq_cst);
    return Soonest(t, now);
  }
  // Confirmed unless a release, an undo or a change cleared it meanwhile.
  if (!t.full_until->compare_exchange_strong(tentative, soonest, std::memory_order_seq_cst)) {
    return Soonest(t, now);
  }
  t.hint->store(i, std::memory_order_relaxed);  // where it will free first
  return soonest - now;
}

}  // namespace

Grant TryAcquire(const Table& t, int64_t now) {
  Grant g;
  if (t.len == 0) {
    g.retry_after_ns = -1;
    return g;
  }
  if (now < t.gate_until_ns) {
    g.retry_after_ns = UntilGate(t, now);
    return g;
  }
  if (const int64_t b = BoundAt(t, now); b != 0) {
    g.retry_after_ns = b - now;
    return g;
  }
  // Every entry seen held (invariant 9), and the soonest expiry among them.
  bool all_held = true;
  int64_t soonest = INT64_MAX;
  uint64_t soonest_at = 0;
  const uint64_t start = t.hint->load(std::memory_order_relaxed) % t.len;
  for (uint64_t k = 0; k < t.len; ++k) {
    const uint64_t i = (start + k) % t.len;
    HolderEntry& h = t.entries[i];
    int64_t e = h.expiry.load(std::memory_order_acquire);
    if (e == kSealed) {
      g.sealed = true;
      return g;
    }
    if (!Takeable(h, e, now, t.reclaim)) {
      if (e <= 0) {
        g.freed_after_now = true;  // released, at a time after now
        all_held = false;
      } else if (e < soonest) {
        soonest = e;
        soonest_at = i;
      }
      continue;
    }
    all_held = false;
    const int64_t next = Claim(t, i, e, now);
    if (next == 0) continue;
    if (t.Replaced()) {
      // The table may have been rewritten in place under us: not a grant.
      // Entries keep their index and (index, next) is ours alone, so the
      // undo only ever removes our own claim.
      Unclaim(t, i, next, e);
      g.sealed = true;
      return g;
    }
    uint64_t token = 0;
    if (!TakeToken(t, h, next, &token)) continue;  // not ours any more
    t.hint->store((i + 1) % t.len, std::memory_order_relaxed);
    g.ok = true;
    g.lease = Lease{token, now, next, static_cast<uint32_t>(i)};
    return g;
  }
  g.retry_after_ns = all_held && t.full_until != nullptr ? LearnBound(t, now, soonest, soonest_at)
                                                         : Soonest(t, now);
  return g;
}

Decision TryAcquireN(const Table& t, uint32_t n, int64_t now, bool* sealed) {
  if (n > t.len) return {false, now, -1};
  if (now < t.gate_until_ns) return {false, now, UntilGate(t, now)};
  if (const int64_t b = BoundAt(t, now); b != 0) return {false, now, b - now};
  struct Taken {
    uint64_t index;
    int64_t next;
    int64_t prev;
  };
  Taken inline_taken[8];
  std::unique_ptr<Taken[]> heap_taken;  // only for n > 8
  Taken* taken = inline_taken;
  if (n > 8) {
    heap_taken.reset(new Taken[n]);
    taken = heap_taken.get();
  }
  uint32_t got = 0;
  const uint64_t start = t.hint != nullptr ? t.hint->load(std::memory_order_relaxed) % t.len : 0;
  for (uint64_t k = 0; k < t.len && got < n; ++k) {
    const uint64_t i = (start + k) % t.len;
    HolderEntry& h = t.entries[i];
    int64_t e = h.expiry.load(std::memory_order_acquire);
    if (e == kSealed) {
      *sealed = true;
      break;
    }
    if (!Takeable(h, e, now, t.reclaim)) continue;
    const int64_t next = Claim(t, i, e, now);
    if (next == 0) continue;
    uint64_t token = 0;
    if (!TakeToken(t, h, next, &token)) continue;  // not ours any more
    taken[got++] = {i, next, e};
  }
  const bool replaced = got > 0 && t.Replaced();  // as in TryAcquire
  if (got == n && !replaced) {
    if (t.hint != nullptr)
      t.hint->store((taken[n - 1].index + 1) % t.len, std::memory_order_relaxed);
    return {true, now, 0};
  }
  for (uint32_t j = 0; j < got; ++j) Unclaim(t, taken[j].index, taken[j].next, taken[j].prev);
  if (replaced) {
    *sealed = true;
    return {false, now, 0};
  }
  return {false, now, Soonest(t, now)};
}

bool Release(const Table& t, const Lease& lease, int64_t now) {
  if (lease.index >= t.len || lease.expires_ns <= now) return false;
  HolderEntry& h = t.entries[lease.index];
  // Publish the release time first, and only ever raise it: a releaser whose
  // CAS then fails (not its lease any more) can only make the entry free
  // later, never earlier.
  int64_t since = h.free_since_ns.load(std::memory_order_relaxed);
  while (since < now &&
         !h.free_since_ns.compare_exchange_weak(since, now, std::memory_order_relaxed)) {
  }
  int64_t expected = lease.expires_ns;
  // seq_cst: ForgetBound and WakeSleepers then read full_until and the
  // sleepers count (invariant 9; acquire.cc, WaitForLease: store-load pairs).
  if (!h.expiry.compare_exchange_strong(expected, -lease.expires_ns, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
    return false;
  }
  // Invariant 8: the next claim starts at the entry just freed.
  if (t.hint != nullptr) t.hint->store(lease.index, std::memory_order_relaxed);
  ForgetBound(t);
  WakeSleepers(t);
  return true;
}

bool Renew(const Table& t, Lease* lease, int64_t now) {
  if (lease->index >= t.len || lease->expires_ns <= now) return false;
  HolderEntry& h = t.entries[lease->index];
  int64_t expected = lease->expires_ns;
  const int64_t next = NextExpiry(expected, now, t.ttl_ns);
  if (!h.expiry.compare_exchange_strong(expected, next, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    return false;
  }
  h.owner_pidns.store(platform::PidNamespaceId(), std::memory_order_relaxed);
  h.owner.store(Owner(platform::Pid(), next), std::memory_order_release);
  lease->expires_ns = next;
  return true;
}

uint64_t Held(const Table& t, int64_t now, int64_t* next_free_ns) {
  uint64_t held = 0;
  for (uint64_t i = 0; i < t.len; ++i) {
    const int64_t e = t.entries[i].expiry.load(std::memory_order_relaxed);
    if (e > now) ++held;
  }
  if (next_free_ns) *next_free_ns = held < t.len ? 0 : Soonest(t, now);
  return held;
}

}  // namespace sluice::lease
