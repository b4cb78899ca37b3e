#include "window.h"

#include <algorithm>

namespace sluice::window {

int64_t UntilNextWindow(const Params& p, int64_t now) {
  if (now < 0) return -now + p.window_ns;
  return p.window_ns - now % p.window_ns;
}

void BumpState(std::atomic<int64_t>& state, const Params& old_p, const Params& new_p, int64_t now) {
  int64_t cur = state.load(std::memory_order_relaxed);
  for (;;) {
    int64_t next;
    if (old_p.window_ns != new_p.window_ns) {
      const uint64_t idx = IndexAt(new_p, now) & kIndexMask;
      // Full for any limit, not just the new one: a later change of limit
      // within this window must not find room that grants under earlier
      // windows already used.
      next = static_cast<int64_t>((idx << kCountBits) | kCountMask);
      if (next == cur) return;  // already full for any limit: nobody can grant
    } else {
      const uint64_t count = static_cast<uint64_t>(cur) & kCountMask;
      if (count == kCountMask) return;  // full for any limit: nobody can grant
      next = cur + 1;
    }
    // release: see gcra::ParamsGuard.
    if (state.compare_exchange_weak(cur, next, std::memory_order_release,
                                    std::memory_order_relaxed)) {
      return;
    }
  }
}

void MarkFull(std::atomic<int64_t>& state, const Params& p, int64_t now) {
  BumpState(state, Params{p.limit, p.window_ns + 1}, p, now);
}

uint64_t Used(int64_t state, const Params& p, int64_t now) {
  const uint64_t idx = IndexAt(p, now) & kIndexMask;
  const uint64_t stored = static_cast<uint64_t>(state) >> kCountBits;
  if (ResolveDelta(IndexDelta(idx, stored), IndexAt(p, now), 0) > 0) return 0;
  return std::min<uint64_t>(static_cast<uint64_t>(state) & kCountMask, p.limit);
}

}  // namespace sluice::window
