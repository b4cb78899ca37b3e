// Fixed window counter: at most `limit` permits per aligned window
// [k*window, (k+1)*window). State: one 64-bit word, window index (40 bits,
// modulo 2^40) << 24 | count (24 bits), updated by CAS.
//
// Invariants:
//  1. count only grows within one window index; a CAS that moves to a newer
//     index starts count at 0. count + n <= limit for every grant.
//  2. A `now` older than the stored index (a stale or backwards clock) is
//     counted against the stored, newer window: it can deny, never exceed;
//     such a grant is dated (Decision::now_ns) at that window's start.
//  3. A clock more than one window behind the stored index is denied (it
//     cannot tell a stale clock from a state another window length wrote).
//     An index more than 2^32 windows "behind" the stored one is ambiguous
//     (a clock that stale, or a 40-bit wrap after a long idle); the full
//     index of the last move (kept in the slot's token word) decides, and
//     without it the older reading wins: the state never moves backwards.
//  4. As with any fixed-window counter, up to 2*limit can pass in an
//     interval of length `window` that straddles a boundary (docs say so).
// Memory order: as for gcra (gcra.h): acquire loads and CASes of the state,
// release by parameter changes, only so that a decision that reads a state
// written after a change sees its params_off; the epoch hint is relaxed
// (any value is safe, invariant 3).
#ifndef SLUICE_SRC_WINDOW_H_
#define SLUICE_SRC_WINDOW_H_

#include <atomic>
#include <cstdint>

#include "gcra.h"  // ParamsGuard
#include "sluice/limiter.h"

namespace sluice::window {

struct Params {
  uint64_t limit = 0;
  int64_t window_ns = 1;
};

constexpr int kCountBits = 24;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr uint64_t kIndexMask = (uint64_t{1} << 40) - 1;

inline uint64_t IndexAt(const Params& p, int64_t now) {
  return now <= 0 ? 0 : static_cast<uint64_t>(now / p.window_ns);
}

// Signed distance idx - stored in 40-bit modular arithmetic.
inline int64_t IndexDelta(uint64_t idx, uint64_t stored) {
  uint64_t d = (idx - stored) & kIndexMask;
  return static_cast<int64_t>(d << kCountBits) >> kCountBits;
}

// Beyond this many windows "behind", a stored index is ambiguous: a clock
// that stale, or an index that wrapped (2^40 windows) while idle.
constexpr int64_t kAmbiguous = int64_t{1} << 32;

// Resolves an ambiguous delta with `epoch`, the full index of the last move
// to a newer window (0: unknown): newer than it means the index wrapped
// (a new window); otherwise the clock is stale and counts against the
// stored window. Never moves the state backwards on a guess.
inline int64_t ResolveDelta(int64_t delta, uint64_t full_idx, uint64_t epoch) {
  if (delta >= -kAmbiguous) return delta;
  return (epoch != 0 && full_idx > epoch) ? 1 : -kAmbiguous;
}

// Time from `now` to the start of the next window.
int64_t UntilNextWindow(const Params& p, int64_t now);

using gcra::ParamsGuard;

// Inline: this is the hot path. guard/stale: as gcra::TryAcquire.
__attribute__((always_inline)) inline Decision TryAcquire(std::atomic<int64_t>& state,
                                                          const Params& p, uint32_t n, int64_t now,
                                                          const ParamsGuard& guard = {},
                                                          bool* stale = nullptr,
                                                          std::atomic<uint64_t>* epoch = nullptr) {
  if (n > p.limit) return {false, now, -1};
  const uint64_t full_idx = IndexAt(p, now);
  const uint64_t idx = full_idx & kIndexMask;
  int64_t cur = state.load(std::memory_order_acquire);  // acquire: see ParamsGuard
  for (;;) {
    if (guard.Stale() || cur == gcra::kSealedState) {  // a change under way
      if (stale) *stale = true;
      return {false, now, 0};
    }
    const uint64_t stored = static_cast<uint64_t>(cur) >> kCountBits;
    const int64_t delta = ResolveDelta(IndexDelta(idx, stored), full_idx,
                                       epoch ? epoch->load(std::memory_order_relaxed) : 0);
    if (delta < -1) {
      // The stored window is more than one window ahead of our clock: a
      // clock that stale, or a state written under another window length
      // by a change in progress (or one whose updater died: *stale makes
      // the caller reload and, failing that, repair). Deny; look again at
      // the next window.
      if (stale) *stale = true;
      return {false, now, UntilNextWindow(p, now)};
    }
    uint64_t count = static_cast<uint64_t>(cur) & kCountMask;
    uint64_t use_idx = stored;
    if (delta > 0) {
      count = 0;
      use_idx = idx;
    }
    // delta == -1: our clock is one window behind the stored one: the
    // grant counts in the stored window.
    const __int128 ahead_ns = static_cast<__int128>(delta < 0 ? -delta : 0) * p.window_ns;
    if (count + n > p.limit) {
      const __int128 wait = ahead_ns + UntilNextWindow(p, now);
      return {false, now, wait > INT64_MAX / 2 ? INT64_MAX / 2 : static_cast<int64_t>(wait)};
    }
    const int64_t next = static_cast<int64_t>((use_idx << kCountBits) | (count + n));
    if (state.compare_exchange_weak(cur, next, std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      // Hint for ResolveDelta (any value is safe: it only picks between two
      // conservative readings of an ambiguous index).
      if (delta > 0 && epoch) epoch->store(full_idx, std::memory_order_relaxed);
      // A stale clock's grant counts in the stored, newer window: date it
      // at that window's start (a time the real clock has already passed).
      if (delta >= 0) return {true, now, 0};
      const __int128 at = static_cast<__int128>(now / p.window_ns) * p.window_ns + ahead_ns;
      return {true, at > INT64_MAX / 2 ? INT64_MAX / 2 : static_cast<int64_t>(at), 0};
    }
  }
}

// After publishing new parameters (see gcra::BumpState): changes the state
// word conservatively so decisions still using the old parameters fail
// their CAS. Same window length: one more permit counted in the current
// window. New window length: the window holding `now` (new length) counts
// as full for any limit, since which grants fell in it under the old
// windows is unknown.
void BumpState(std::atomic<int64_t>& state, const Params& old_p, const Params& new_p, int64_t now);

// Sets the state to "the window holding `now` (p's length) is full":
// after an updater died half way through a change of window length.
void MarkFull(std::atomic<int64_t>& state, const Params& p, int64_t now);

// Permits counted in the window containing `now`.
uint64_t Used(int64_t state, const Params& p, int64_t now);

}  // namespace sluice::window

#endif  // SLUICE_SRC_WINDOW_H_
