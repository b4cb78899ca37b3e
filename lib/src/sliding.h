// Sliding window: at most `limit` grants in ANY interval of length `window`,
// across all processes. State: a ring of `limit` 64-bit words, one per
// permit, each holding the time of the last grant that used it.
//
// Invariants:
//  1. A word changes from v to t only by CAS, and only if v + window <= t
//     (v "expired" at t), or as a reservation/rollback (3, 4).
//  2. So successive grant times on one word are >= window apart, each word
//     holds at most one grant in any half-open interval of length window,
//     and `limit` words hold at most `limit`: the guarantee.
//  3. A grant of n permits claims n words, one CAS each; if it cannot get
//     all n it puts back what it took (CAS t -> v). Until then the words
//     look used: others may be denied, never over-granted. A process killed
//     between the CASes wastes at most its own n permits for one window.
//  4. A reservation (blocking acquire) writes a future grant time
//     g = max(now, max(v_i) + window) into each claimed word and sleeps
//     until g: invariant 1 holds with g as the grant time.
//  5. kSealed marks a word a change is rewriting, or one past the ring's
//     length: never expired; a caller that meets it reloads the parameters.
//  6. ring_hint is only a hint where to start scanning: any value is safe.
//  7. A change rewrites the ring in place after publishing its parameters
//     (slot_table.cc). A grant checks params_off after its CASes: if the
//     parameters it used were replaced, it is not used and its words are
//     left as they are. Each holds a time later than the value it replaced
//     (a word is taken only when expired), so a left word can only count
//     longer than what it replaced: if the change had already rewritten
//     it, one of the change's values is replaced by a later one (the grant
//     it stood for still counts, longer); if not, the change saw the grant
//     and counted it.
//  8. free_at (RingHeader) is a lower bound on the time any word frees:
//     a decision at now < free_at is denied at once, with free_at - now
//     as retry_after, without reading the ring. A word's expiry moves
//     earlier only by a Refund (3) or a change (7); everything else
//     writes a later time (1, 4). So a full scan that found no free word,
//     no kSealed, and parameters still published may store the smallest
//     expiry it saw, unless a refund or change overlapped the scan. Both
//     bump free_seq and then store free_at = 0, after their ring writes;
//     the scan reads free_seq before its first word and again after its
//     store, and takes its store back (CAS to 0) if it moved. All seq_cst,
//     so either the scan sees the bump or the bump's store of 0 comes after
//     the scan's store. A change also forgets free_at right after sealing
//     (before publishing): a scan that starts later sees kSealed or only
//     the new values, so an updater killed before its final forget leaves
//     no stale bound. A process killed between a refund's CAS and its
//     forget leaves a bound that ignores only its own refunded words, until
//     the bound's time (it wastes its own permits, as in 3). free_at only
//     ever denies: the limit never depends on it, only utilisation does.
//     (A handle also keeps a pointer to free_at with its hot parameters
//     and denies one permit before it directly, after checking that
//     params_off still names its parameters: limiter.cc.)
// Memory order: for the decisions themselves relaxed would be enough (each
// word carries no other data); grant CASes are acquire so that one reading
// a word a change rewrote (release) sees the change's params_off (7).
// A scan that stores free_at issues an acquire fence before its params_off
// check, for the same reason (8).
#ifndef SLUICE_SRC_SLIDING_H_
#define SLUICE_SRC_SLIDING_H_

#include <atomic>
#include <cstdint>

#include "sluice/limiter.h"

namespace sluice::sliding {

struct Ring {
  std::atomic<int64_t>* words = nullptr;
  uint64_t len = 0;  // == limit
  int64_t window_ns = 1;
  std::atomic<uint64_t>* hint = nullptr;
  // The slot's params_off and the word these parameters were published as
  // (params.h invariant 3): a grant whose ring was rewritten in place while
  // it was being taken is not used. nullptr: no check (unit tests).
  const std::atomic<uint64_t>* params_off = nullptr;
  uint64_t word = 0;
  // RingHeader's free_at and free_seq (invariant 8). nullptr: no bound.
  std::atomic<int64_t>* free_at = nullptr;
  std::atomic<uint64_t>* free_seq = nullptr;
  bool Replaced() const {
    // acquire: a grant CAS (acquire) that read a word rewritten after a
    // change was published also sees that change's params_off.
    return params_off != nullptr && params_off->load(std::memory_order_acquire) != word;
  }
};

// A try scans this many words from the hint (plus the permits asked for)
// looking for free ones. Finding none, it scans on to the whole ring (to
// learn free_at, invariant 8) only if the soonest expiry seen so far is
// further away than kScanNsPerWord per word left, i.e. if the bound it
// would learn can outlast the scan; else it denies with that expiry.
constexpr uint64_t kMaxScan = 4096;
constexpr int64_t kScanNsPerWord = 1;

// t - now, saturating (ring words come from shared memory; `now` may be
// injected).
inline int64_t Until(int64_t t, int64_t now) {
  const __int128 d = static_cast<__int128>(t) - now;
  return d > INT64_MAX / 2 ? INT64_MAX / 2 : d < -(INT64_MAX / 2) ? -(INT64_MAX / 2) : int64_t(d);
}

// Invariant 8: forgets free_at after a write that can free a word early.
void ForgetFreeAt(std::atomic<int64_t>* free_at, std::atomic<uint64_t>* free_seq);

// `sealed` is set when a retired ring was met (caller reloads params).
Decision TryAcquire(const Ring& r, uint32_t n, int64_t now, bool* sealed);

struct Reservation {
  bool ok = false;
  bool sealed = false;
  int64_t grant_ns = 0;
  int64_t retry_after_ns = 0;  // when !ok (-1: never)
};
// Claims the n words that free first, dated max(now, their expiry), if that
// is within max_wait_ns (< 0: any). On success *undo (n entries of index,
// old value) allows Refund.
struct Undo {
  uint64_t index;
  int64_t old;
};
Reservation Reserve(const Ring& r, uint32_t n, int64_t now, int64_t max_wait_ns, Undo* undo);
void Refund(const Ring& r, uint32_t n, const Undo* undo, int64_t grant_ns);

// Grants within (now - window, now] (reservations in the future count).
uint64_t Used(const Ring& r, int64_t now, int64_t* next_free_ns);

}  // namespace sluice::sliding

#endif  // SLUICE_SRC_SLIDING_H_
