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
//  3. As with any fixed-window counter, up to 2*limit can pass in an
//     interval of length `window` that straddles a boundary (docs say so).
// Memory order: relaxed, as for gcra: the word carries no other data.
#ifndef SLUICE_SRC_WINDOW_H_
#define SLUICE_SRC_WINDOW_H_

#include <atomic>
#include <cstdint>

#include "sluice/limiter.h"

namespace sluice::window {

struct Params {
  uint64_t limit = 0;
  int64_t window_ns = 1;
};

Decision TryAcquire(std::atomic<int64_t>& state, const Params& p, uint32_t n,
                    int64_t now);
// Permits counted in the window containing `now`.
uint64_t Used(int64_t state, const Params& p, int64_t now);
// Time from `now` to the start of the next window.
int64_t UntilNextWindow(const Params& p, int64_t now);

}  // namespace sluice::window

#endif  // SLUICE_SRC_WINDOW_H_
