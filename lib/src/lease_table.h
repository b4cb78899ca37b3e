// Lease table: at most `holders` leases at once, each lapsing `ttl` after
// its grant unless renewed or released. State: HolderEntry[holders] in the
// arena plus the limiter's fencing-token counter.
//
// Invariants:
//  1. An entry is held iff expiry > now. It is taken only by a CAS from a
//     value that is not held: released (expiry <= 0) and now >= its
//     free_since (the release time), lapsed (0 < expiry <= now), or, with
//     reclaim, held by a pid that no longer exists (4). So every earlier
//     hold of the entry ended at or before the new grant's time, whatever
//     the order in which stale clocks reach the CAS.
//  2. Each new expiry is larger than the absolute value of the one it
//     replaces, and release stores -expiry, so (index, expiry) names one
//     grant forever: a late Release/Renew of an old grant fails its CAS.
//     (A claim rolled back before it became a grant restores the previous
//     value: no handle names it.)
//  3. Fencing tokens come from one counter, fetch_add after the claim CAS,
//     and a claim is a grant only if the entry still holds it after the
//     fetch_add (a re-load). So a later grant of the same entry claims
//     after this grant's holder had its token, and its token is larger:
//     claim CAS, fetch_add and re-load are seq_cst, and the later claim's
//     CAS comes after our re-load in the entry's modification order, so in
//     the single total order our fetch_add < our re-load < its CAS < its
//     fetch_add. A claimer preempted past its own expiry whose entry was
//     taken meanwhile finds another value and rolls back; one whose entry
//     nobody took keeps a grant that may already have lapsed when it
//     returns (it held the entry over [now, expiry), which nobody else did).
//     This costs a load of a line the CAS just wrote, not a clock read.
//  4. owner = pid << 32 | low 32 bits of expiry is stored (release) after
//     owner_pidns. A reclaimer trusts the pid only when the low bits match
//     the expiry it read and the pid namespace is its own, so a half-written
//     owner or a pid from another container never causes a reclaim; pid
//     reuse only delays a reclaim until ttl (the safe direction).
//  5. free_since only grows (CAS max), and is written before the release
//     CAS: a failed or stale releaser can delay reuse, never advance it.
//  6. gate_until (the carried leases of a live shrink, params.h Carry)
//     denies every grant until the dropped leases have lapsed; a later grow
//     puts them back as entries, so shrink-then-grow never forgets one.
//  7. A change keeps the table in place: entries below the new holder
//     count keep their index and values (held leases stay valid), entries
//     past it are sealed (kSealed). A claim checks params_off after its CAS
//     and undoes itself if the parameters it used were replaced meanwhile.
//     Its (index, next) is unique (2), so the undo can only remove its own
//     claim, wherever the change left it.
//  8. hint (the slot's ring_hint) is only where a claim starts scanning;
//     any value is safe. A grant moves it past the entry it took and a
//     release to the entry it freed, so a table where leases are taken
//     and given back finds a free entry in O(1), however many are held.
//  9. full_until (the slot's) is a lower bound on the time any entry can
//     be taken: a try at now < full_until is denied at once, with
//     full_until - now as retry_after, without reading the table. An
//     entry becomes takeable by a lapse (at its expiry), a release or an
//     undone claim (writes), a change (writes), or, with reclaim, its
//     holder's death (no write: reclaim tables have no bound). A scan that
//     found every entry held stores the smallest expiry it saw, X, as a
//     tentative -X (CAS from the value it read; readers ignore values
//     <= now, negatives included), then reads every entry again and
//     params_off: one below X (freed, sealed, or claimed at a lapse
//     meanwhile) or another params_off takes it back (CAS to 0); else a
//     CAS from -X to X confirms it. A release and an undo clear any
//     non-zero value after their CAS. All seq_cst: either the second read
//     sees the release, or the release's read of full_until comes after
//     the tentative store and clears it, and the confirming CAS fails. A
//     change clears it before rewriting the table and again after
//     publishing (a seq_cst fence between): a scan whose params_off read
//     missed the publish stored before that clear. Renewals only raise
//     expiries. A scanner killed or stalled before it confirms leaves a
//     tentative value that denies nobody (the next scan replaces it); a
//     process killed between its release CAS and its clear leaves a bound
//     that hides only its own freed entry, until the bound's time (at most
//     ttl): it wastes its own lease, as a kill may. The bound only ever
//     denies: the holder count never depends on it, only utilisation does.
// Memory order: the expiry CASes (claim, release, undo) are seq_cst for
// invariants 3 and 9 and the wake-up protocol; at least acq_rel, so what the
// previous holder wrote (owner, token, free_since) is ordered before the
// next claim. Renew stays acq_rel (it frees nothing).
#ifndef SLUICE_SRC_LEASE_TABLE_H_
#define SLUICE_SRC_LEASE_TABLE_H_

#include <atomic>
#include <cstdint>

#include "layout.h"
#include "sluice/limiter.h"

namespace sluice::lease {

struct Table {
  HolderEntry* entries = nullptr;
  uint64_t len = 0;  // == holders
  int64_t ttl_ns = 1;
  bool reclaim = false;
  int64_t gate_until_ns = INT64_MIN;
  std::atomic<uint64_t>* token = nullptr;
  std::atomic<uint64_t>* hint = nullptr;
  // As sliding::Ring: a claim whose table was rewritten in place while it
  // was being taken is undone (params.h invariant 3). nullptr: no check.
  const std::atomic<uint64_t>* params_off = nullptr;
  uint64_t word = 0;
  // kWaiterSlots words naming queued waiters (lease_queue.h); nullptr: none.
  std::atomic<uint64_t>* waiters = nullptr;
  // The slot's full_until (invariant 9); nullptr: none (reclaim tables).
  std::atomic<int64_t>* full_until = nullptr;
  // The slot's futex word and sleeper count (acquire.cc, WaitForLease): a
  // write that frees an entry before it lapses (a release, an undone
  // claim) wakes the sleepers. nullptr: nobody to wake.
  std::atomic<uint32_t>* wake_seq = nullptr;
  const std::atomic<uint32_t>* sleepers = nullptr;
  bool Replaced() const {
    return params_off != nullptr && params_off->load(std::memory_order_acquire) != word;
  }
};

struct Grant {
  bool ok = false;
  bool sealed = false;  // table retired by a resize: reload params
  Lease lease;
  int64_t retry_after_ns = 0;  // when !ok: until the soonest lapse
  // when !ok: an entry was skipped only because it was released after
  // `now` (free at a later clock).
  bool freed_after_now = false;
};

Grant TryAcquire(const Table& t, int64_t now);
// n anonymous leases that simply lapse (try_acquire on a lease limiter).
Decision TryAcquireN(const Table& t, uint32_t n, int64_t now, bool* sealed);
bool Release(const Table& t, const Lease& lease, int64_t now);
bool Renew(const Table& t, Lease* lease, int64_t now);
// Entries held at `now`; *next_free_ns: time until one frees (0 if free).
uint64_t Held(const Table& t, int64_t now, int64_t* next_free_ns);

// Value for a fresh, never-used entry.
constexpr int64_t kUnusedExpiry = 0;

}  // namespace sluice::lease

#endif  // SLUICE_SRC_LEASE_TABLE_H_
