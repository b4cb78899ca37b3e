// GCRA (generic cell rate algorithm): a rate limiter whose whole state is one
// 64-bit word, the theoretical arrival time (TAT), updated by CAS.
//
// Invariants (T = cost of one permit = ceil(period/rate) ns, tau = burst*T):
//  1. Every successful CAS replaces TAT by max(TAT, now) + n*T for a grant of
//     n permits, and only if the result is <= now + tau.
//  2. Hence for the grants in any interval [a, b]: TAT rises by n*T per
//     permit from >= a to <= b + tau, so permits <= burst + (b-a)/T
//     <= burst + rate*(b-a)/period (T is rounded up, never down).
//  3. A reservation (blocking acquire) is a grant dated in the future:
//     grant time g = new TAT - tau >= now; 2 holds with g as the grant time.
//  4. Time going backwards (a stale `now`) only makes max(TAT, now) larger
//     relative to now: it can deny more, never grant more.
//  5. A grant's CAS lands while the parameters it used are published
//     (ParamsGuard): a change seals the word (kSealedState) before it
//     publishes new parameters and writes the converted TAT after, so a
//     process stalled mid-decision across the change cannot grant under the
//     old parameters after it, even if the updater dies in between (the seal
//     stays, decisions deny, and the next caller repairs it).
//     (Residual: a rate increase lowers TAT; a decision stalled between
//     its ParamsGuard check and its CAS could still land if later grants
//     brought TAT back to the exact nanosecond it read.)
//  6. A parameter change keeps the debt in permits, not in nanoseconds:
//     TAT - now is rescaled by T_new / T_old (rounded up). So the permits
//     spent before the change count in full under the new rate and burst,
//     and in any interval grants <= the largest burst in force plus the
//     largest rate in force times its length.
// Memory order: the TAT word carries no other data, so for the decisions
// themselves relaxed would be enough (the word's modification order orders
// them). Loads and CASes are acquire, and parameter changes store with
// release, only for invariant 5: a decision that reads a TAT written after
// a change also sees that change's params_off (see ParamsGuard).
#ifndef SLUICE_SRC_GCRA_H_
#define SLUICE_SRC_GCRA_H_

#include <atomic>
#include <cstdint>

#include "sluice/limiter.h"

namespace sluice::gcra {

struct Params {
  int64_t cost1 = 1;  // T: ns per permit, rounded up
  int64_t tau = 1;    // burst * T
  uint64_t burst = 1;
};

// REQUIRES: a validated spec (rate >= 1, period >= 1us, burst*T < 2^62).
Params MakeParams(uint64_t rate, int64_t period_ns, uint64_t burst);
// TAT of a limiter nobody used yet: everything is free.
constexpr int64_t kInitialTat = INT64_MIN / 4;
// The state word while a parameter change is under way (layout.h kSealed):
// no decision takes it; one that meets it decides again after a reload.
constexpr int64_t kSealedState = INT64_MAX;

// The parameters a decision was made with must still be the published ones
// when its CAS lands: the caller passes the slot's params_off word and the
// offset of `p`. A parameter change publishes params_off, then changes the
// state word (ConvertState), so a decision that read the state after the
// bump sees the new params_off (acquire/release), and one that read it
// before fails its CAS and re-checks. nullptr: no check (unit tests).
struct ParamsGuard {
  const std::atomic<uint64_t>* params_off = nullptr;
  uint64_t off = 0;
  bool Stale() const { return params_off && params_off->load(std::memory_order_acquire) != off; }
};

// Inline: this is the hot path. *stale: the parameters changed under us;
// nothing was granted, decide again with the new ones.
__attribute__((always_inline)) inline Decision TryAcquire(std::atomic<int64_t>& tat,
                                                          const Params& p, uint32_t n, int64_t now,
                                                          const ParamsGuard& guard = {},
                                                          bool* stale = nullptr) {
  if (n > p.burst) return {false, now, -1};
  const int64_t inc = static_cast<int64_t>(n) * p.cost1;
  // acquire (load, and a failed CAS's reload): see ParamsGuard. The TAT
  // word carries no other data, so the word's modification order alone
  // orders the decisions; the successful CAS is acquire only because a
  // failure order may not be stronger than the success order (and on
  // x86-64 every CAS is a full barrier anyway).
  int64_t cur = tat.load(std::memory_order_acquire);
  for (;;) {
    if (guard.Stale() || cur == kSealedState) {
      if (stale) *stale = true;
      return {false, now, 0};
    }
    int64_t next;
    int64_t wait;
    // Overflow only from a damaged word or an absurd injected `now`: deny.
    if (__builtin_expect(__builtin_add_overflow(cur > now ? cur : now, inc, &next) ||
                             __builtin_sub_overflow(next, p.tau, &wait) ||
                             __builtin_sub_overflow(wait, now, &wait),
                         0)) {
      return {false, now, INT64_MAX / 2};
    }
    if (wait > 0) return {false, now, wait};
    if (tat.compare_exchange_weak(cur, next, std::memory_order_acquire,
                                  std::memory_order_acquire)) {
      return {true, now, 0};
    }
  }
}

// After publishing new parameters: rescales the debt TAT - now from old_p's
// cost per permit to new_p's (invariant 6) and always changes the word (at
// least 1 ns later when the cost is unchanged), so that decisions still
// using the old parameters fail their CAS.
void ConvertState(std::atomic<int64_t>& tat, const Params& old_p, const Params& new_p, int64_t now);

// A turn taken in advance: the permits are granted at grant_ns.
struct Reservation {
  bool ok = false;
  bool stale = false;  // the parameters changed under us: nothing taken
  int64_t grant_ns = 0;
  int64_t new_tat = 0;
  int64_t prev_tat = 0;
  int64_t retry_after_ns = 0;  // when !ok: wait needed (-1: never)
};
// Reserves the earliest turn if it comes no later than now + max_wait_ns
// (max_wait_ns < 0: any). Takes nothing otherwise.
Reservation Reserve(std::atomic<int64_t>& tat, const Params& p, uint32_t n, int64_t now,
                    int64_t max_wait_ns, const ParamsGuard& guard = {});
// Gives an unused reservation back if nobody reserved after it.
bool Refund(std::atomic<int64_t>& tat, const Reservation& r);

// Permits spent out of burst at `now` (0 = idle, burst = exhausted).
double Used(int64_t tat, const Params& p, int64_t now);

}  // namespace sluice::gcra

#endif  // SLUICE_SRC_GCRA_H_
