#include "window.h"

namespace sluice::window {

int64_t UntilNextWindow(const Params& p, int64_t now) {
  if (now < 0) return -now + p.window_ns;
  return p.window_ns - now % p.window_ns;
}

uint64_t Used(int64_t state, const Params& p, int64_t now) {
  const uint64_t idx = IndexAt(p, now) & kIndexMask;
  const uint64_t stored = static_cast<uint64_t>(state) >> kCountBits;
  if (IndexDelta(idx, stored) > 0) return 0;
  return static_cast<uint64_t>(state) & kCountMask;
}

}  // namespace sluice::window
