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
//  5. kSealed marks a ring retired by a resize: never expired; a caller that
//     meets it reloads the parameters.
//  6. ring_hint is only a hint where to start scanning: any value is safe.
// Memory order: each word carries no other data, so relaxed CAS is enough.
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
};

// Scans at most this many words per try; beyond that it denies (safe).
constexpr uint64_t kMaxScan = 4096;

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
