#include "gcra.h"

#include <algorithm>

namespace sluice::gcra {

Params MakeParams(uint64_t rate, int64_t period_ns, uint64_t burst) {
  Params p;
  unsigned __int128 per = static_cast<unsigned __int128>(period_ns);
  p.cost1 = static_cast<int64_t>((per + rate - 1) / rate);
  if (p.cost1 < 1) p.cost1 = 1;
  p.burst = burst;
  p.tau = static_cast<int64_t>(burst) * p.cost1;
  return p;
}

Reservation Reserve(std::atomic<int64_t>& tat, const Params& p, uint32_t n, int64_t now,
                    int64_t max_wait_ns, const ParamsGuard& guard) {
  Reservation r;
  if (n > p.burst) {
    r.retry_after_ns = -1;
    return r;
  }
  const int64_t inc = static_cast<int64_t>(n) * p.cost1;
  int64_t cur = tat.load(std::memory_order_acquire);  // acquire: see ParamsGuard
  for (;;) {
    if (guard.Stale() || cur == kSealedState) {
      r.stale = true;
      return r;
    }
    int64_t next;
    int64_t late;
    // Overflow only from a damaged word or an absurd injected `now`: deny.
    if (__builtin_add_overflow(std::max(cur, now), inc, &next) ||
        __builtin_sub_overflow(next, p.tau, &late) || __builtin_sub_overflow(late, now, &late)) {
      r.retry_after_ns = INT64_MAX / 2;
      return r;
    }
    const int64_t wait = std::max<int64_t>(0, late);
    if (max_wait_ns >= 0 && wait > max_wait_ns) {
      r.retry_after_ns = wait;
      return r;
    }
    if (tat.compare_exchange_weak(cur, next, std::memory_order_acquire,
                                  std::memory_order_acquire)) {
      r.ok = true;
      r.grant_ns = now + wait;
      r.new_tat = next;
      r.prev_tat = cur;
      return r;
    }
  }
}

void ConvertState(std::atomic<int64_t>& tat, const Params& old_p, const Params& new_p,
                  int64_t now) {
  int64_t cur = tat.load(std::memory_order_relaxed);
  for (;;) {
    int64_t next = cur + 1;
    if (cur > now && old_p.cost1 != new_p.cost1) {
      // ceil(debt * T_new / T_old), saturating far beyond any real debt.
      const __int128 debt = (static_cast<__int128>(cur) - now) * new_p.cost1;
      const __int128 scaled = (debt + old_p.cost1 - 1) / old_p.cost1;
      const __int128 limit = static_cast<__int128>(INT64_MAX / 2) - now;
      next = now + static_cast<int64_t>(scaled > limit ? limit : scaled);
      if (next == cur) next = cur + 1;
    }
    // release: pairs with the decisions' acquire loads (see ParamsGuard).
    if (tat.compare_exchange_weak(cur, next, std::memory_order_release,
                                  std::memory_order_relaxed)) {
      return;
    }
  }
}

bool Refund(std::atomic<int64_t>& tat, const Reservation& r) {
  int64_t expected = r.new_tat;
  return tat.compare_exchange_strong(expected, r.prev_tat, std::memory_order_relaxed,
                                     std::memory_order_relaxed);
}

double Used(int64_t tat, const Params& p, int64_t now) {
  if (tat <= now) return 0;
  // tat > now: exact in uint64_t even when tat - now overflows int64_t (a
  // damaged TAT, or an injected time far in the past).
  const uint64_t ahead = static_cast<uint64_t>(tat) - static_cast<uint64_t>(now);
  return std::min<double>(static_cast<double>(p.burst), static_cast<double>(ahead) / p.cost1);
}

}  // namespace sluice::gcra
