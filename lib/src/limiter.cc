// Limiter handles: the hot path (TryAcquire), parameter reloads, batched
// statistics and inspection. Blocking acquires and leases: acquire.cc. The
// algorithms themselves live in gcra/window/sliding/lease_table.
#include "sluice/limiter.h"

#include <algorithm>
#include <cassert>

#include "handle_cache.h"
#include "platform.h"
#include "slot_table.h"
#include "sluice/duration.h"

namespace sluice {

namespace {

constexpr uint32_t kFlushCalls = 64;
constexpr int64_t kFlushNs = kNanosPerMilli;
constexpr int64_t kDemandIntervalNs = 100 * kNanosPerMilli;

}  // namespace

void HandleCache::DropIfForked() {
  if (fork_gen.load(std::memory_order_relaxed) == platform::ForkGeneration()) return;
  granted.store(0, std::memory_order_relaxed);
  denied.store(0, std::memory_order_relaxed);
  calls.store(0, std::memory_order_relaxed);
  // The child has one thread: a seqlock left odd by a parent's thread that
  // was caching is released, with the cache marked empty (off 0 never
  // matches params_off: the next decision reloads).
  const uint64_t s = seq.load(std::memory_order_relaxed);
  if (s & 1) {
    HotParams none;
    StoreWords(none, &hot);
    seq.store(s + 1, std::memory_order_release);
  }
  fork_gen.store(platform::ForkGeneration(), std::memory_order_relaxed);
}

bool HandleCache::Read(ActiveParams* out) const {
  const uint64_t s = seq.load(std::memory_order_acquire);
  if (s & 1) return false;
  LoadWords(params, out);
  std::atomic_thread_fence(std::memory_order_acquire);
  return seq.load(std::memory_order_relaxed) == s && out->off != 0;
}

void HandleCache::Store(const ActiveParams& p) {
  uint64_t s = seq.load(std::memory_order_relaxed);
  if ((s & 1) || !seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  // The odd seq is visible before the words change (release fence).
  std::atomic_thread_fence(std::memory_order_release);
  HotParams h;
  h.off = p.off;
  // A read-only handle never decides: the hot path sends it to Decide.
  h.hot_until_ns = p.writable ? p.hot_until_ns : INT64_MIN;
  h.published_ns = p.published_ns;
  h.gcra = p.gcra;
  h.window = p.window;
  h.algorithm = static_cast<uint32_t>(p.spec.algorithm);
  h.writable = p.writable;
  const bool ring =
      p.spec.algorithm == Algorithm::kSliding && p.writable && !p.closed && p.ring.len > 0;
  h.free_at = ring ? p.ring.free_at : nullptr;
  StoreWords(h, &hot);
  WarmParams<sliding::Ring> wr{p.off, p.ring, p.MaxPermits(), p.declared.global};
  StoreWords(wr, &warm_ring);
  WarmParams<lease::Table> wt{p.off, p.table, p.MaxPermits(), p.declared.global};
  StoreWords(wt, &warm_table);
  StoreWords(p, &params);
  seq.store(s + 2, std::memory_order_release);
}

void HandleCache::Flush() {
  if (read_only || slot == nullptr) return;
  DropIfForked();
  const uint64_t g = granted.exchange(0, std::memory_order_relaxed);
  const uint64_t d = denied.exchange(0, std::memory_order_relaxed);
  calls.store(0, std::memory_order_relaxed);
  const int64_t now = platform::NowNs();
  last_flush_ns.store(now, std::memory_order_relaxed);
  if (g + d == 0) return;
  // Statistics only: relaxed RMWs on the stats line, once per batch.
  if (g) slot->granted.fetch_add(g, std::memory_order_relaxed);
  if (d) slot->denied.fetch_add(d, std::memory_order_relaxed);
  const uint64_t asked = slot->asked.fetch_add(g + d, std::memory_order_relaxed) + g + d;
  int64_t epoch = slot->demand_epoch_ns.load(std::memory_order_relaxed);
  // The words are statistics any process may have damaged: the arithmetic
  // saturates rather than overflows.
  const __int128 elapsed = static_cast<__int128>(now) - epoch;
  if (elapsed >= kDemandIntervalNs &&
      slot->demand_epoch_ns.compare_exchange_strong(epoch, now, std::memory_order_relaxed)) {
    const uint64_t before = slot->demand_asked.exchange(asked, std::memory_order_relaxed);
    if (epoch != 0) {
      const double milli = double(asked - before) * 1e12 / double(elapsed);
      slot->demand_milli.store(milli < 1.8e19 ? static_cast<uint64_t>(milli) : UINT64_MAX,
                               std::memory_order_relaxed);
    }
  }
}

StatusOr<Limiter> Limiter::Attach(std::shared_ptr<Mapping> m, uint32_t index) {
  if (index >= m->capacity()) return Status(Code::kInvalidArgument, "slot index out of range");
  SlotLayout* slot = m->slot(index);
  StatusOr<ActiveParams> p = LoadParams(*m, slot);
  if (!p.ok()) return p.status();
  Limiter l;
  l.cache_ = std::make_shared<HandleCache>();
  l.cache_->m = m;
  l.cache_->slot = slot;
  l.cache_->read_only = m->read_only();
  l.cache_->last_flush_ns.store(platform::NowNs(), std::memory_order_relaxed);
  l.cache_->fork_gen.store(platform::ForkGeneration(), std::memory_order_relaxed);
  p->writable = !m->read_only();
  l.cache_->Store(*p);
  l.m_ = std::move(m);
  l.slot_ = slot;
  l.index_ = index;
  return l;
}

HandleCache::~HandleCache() { Flush(); }

ActiveParams Limiter::Params() const {
  ActiveParams p;
  // acquire pairs with the release store of params_off by a change.
  if (cache_->Read(&p) && slot_->params_off.load(std::memory_order_acquire) == p.off) return p;
  return Reload();
}

// A record that fails validation is never used: the last good one stays
// (decisions under it fail their guards and deny until a good one comes).
ActiveParams Limiter::Reload() const {
  StatusOr<ActiveParams> p = LoadParams(*m_, slot_);
  if (p.ok()) {
    p->writable = !cache_->read_only;
    cache_->Store(*p);
    return *p;
  }
  ActiveParams last;
  while (!cache_->Read(&last)) {
    if (cache_->seq.load(std::memory_order_relaxed) & 1) continue;  // a thread is caching
    break;  // nothing cached (cannot happen after Attach)
  }
  return last;
}

bool Limiter::Lapse(const ActiveParams& p, int64_t now) const {
  // A closed record (hot_until INT64_MIN) lapses at its stage's end too.
  if (!p.declared.global || now < p.share.stage_end_ns || !p.writable) return false;
  // Whoever changed it first (this call, another process, a forwarder),
  // the parameters to decide with are the ones published now.
  slots::Lapse(*m_, index_, p.off, now);
  return true;
}

namespace {

// Counts a decision in process memory (see HandleCache). File-local so it
// inlines into the hot path; Limiter::Count is the copy acquire.cc calls.
__attribute__((always_inline)) inline void CountIn(HandleCache& c, bool granted, uint32_t permits,
                                                   int64_t now) {
  if (__builtin_expect(c.fork_gen.load(std::memory_order_relaxed) != platform::ForkGeneration(),
                       0)) {
    c.DropIfForked();
  }
  std::atomic<uint64_t>& n = granted ? c.granted : c.denied;
  n.store(n.load(std::memory_order_relaxed) + permits, std::memory_order_relaxed);
  const uint32_t calls = c.calls.load(std::memory_order_relaxed) + 1;
  c.calls.store(calls, std::memory_order_relaxed);
  if (__builtin_expect(
          calls >= kFlushCalls || now - c.last_flush_ns.load(std::memory_order_relaxed) >= kFlushNs,
          0)) {
    c.Flush();
  }
}

// sliding and lease decisions on the cached ring or table (kept out of
// DecideAndCount so that gcra and window stay inlined there). A grant
// checks that its parameters are still the published ones (sliding.h
// invariant 7, lease_table.h invariant 7); anything else (*stale) decides
// again in Decide.
// Returns whether the decision is stale; the decision in *out.
__attribute__((noinline)) bool DecideWarm(const HandleCache& c, uint64_t off, uint32_t algorithm,
                                          uint32_t permits, int64_t now, Decision* out) {
  Decision& d = *out;
  bool stale_flag = false;
  bool* stale = &stale_flag;
  auto decide = [&](const auto& warm, auto algorithm) {
    std::remove_cv_t<std::remove_reference_t<decltype(warm)>> w;
    if (!c.ReadWarm(warm, &w) || w.off != off || permits > w.max_permits ||
        c.slot->params_off.load(std::memory_order_acquire) != off) {
      *stale = true;
      return;
    }
    d = algorithm(w.part);
    // A global limiter's amount may grow: "more than it has now" is busy.
    if (!*stale && d.retry_after_ns < 0 && w.global) {
      d = Decision(false, now, 10 * kNanosPerMilli, Denial::kBusy);
    }
  };
  if (algorithm == static_cast<uint32_t>(Algorithm::kSliding)) {
    decide(c.warm_ring,
           [&](const sliding::Ring& r) { return sliding::TryAcquire(r, permits, now, stale); });
  } else {
    decide(c.warm_table,
           [&](const lease::Table& t) { return lease::TryAcquireN(t, permits, now, stale); });
  }
  return stale_flag;
}

}  // namespace

void Limiter::Count(bool granted, uint32_t permits, int64_t now) const {
  CountIn(*cache_, granted, permits, now);
}

void Limiter::FlushStats() {
  if (cache_) cache_->Flush();
}

// The hot path. Kept in one function so the compiler can inline the gcra
// and window algorithms and the counting: one clock read, the cached
// parameters (a process-local seqlock read), two loads of the slot's hot
// line (state; params_off), one CAS on it, and process-local stores.
__attribute__((always_inline)) inline Decision Limiter::DecideAndCount(uint32_t permits,
                                                                       int64_t now) const {
  HandleCache& c = *cache_;
  // The cached parameters, read field by field into locals (a seqlock read,
  // HandleCache::ReadHot without the copy: the values stay in registers and
  // nothing is stored before the CAS). gcra and window check params_off
  // themselves (ParamsGuard, after reading the state); everything else
  // (sliding, lease, read-only handles, a closed limiter, a share that
  // ended by `now`, a clock read before the parameters were published:
  // params.h, published_ns) goes through Decide.
  auto relaxed = [](const auto& x) { return __atomic_load_n(&x, __ATOMIC_RELAXED); };
  const uint64_t seq = c.seq.load(std::memory_order_acquire);
  const uint64_t off = relaxed(c.hot.off);
  const int64_t hot_until = relaxed(c.hot.hot_until_ns);
  const int64_t published = relaxed(c.hot.published_ns);
  const uint32_t algorithm = relaxed(c.hot.algorithm);
  auto consistent = [&] {
    std::atomic_thread_fence(std::memory_order_acquire);
    return (seq & 1) == 0 && c.seq.load(std::memory_order_relaxed) == seq;
  };
  // Every path builds its own Decision (no default value stored before
  // the CAS); `stale` stays true unless one decided.
  bool stale = true;
  auto decide = [&]() __attribute__((always_inline))->Decision {
    if (__builtin_expect(now >= hot_until || now < published, 0)) return Decision();
    if (algorithm == static_cast<uint32_t>(Algorithm::kGcra)) {
      gcra::Params p;
      p.cost1 = relaxed(c.hot.gcra.cost1);
      p.tau = relaxed(c.hot.gcra.tau);
      p.burst = relaxed(c.hot.gcra.burst);
      if (__builtin_expect(!consistent(), 0)) return Decision();
      stale = false;
      return gcra::TryAcquire(slot_->state, p, permits, now,
                              gcra::ParamsGuard{&slot_->params_off, off}, &stale);
    }
    if (algorithm == static_cast<uint32_t>(Algorithm::kWindow)) {
      window::Params p;
      p.limit = relaxed(c.hot.window.limit);
      p.window_ns = relaxed(c.hot.window.window_ns);
      if (__builtin_expect(!consistent(), 0)) return Decision();
      stale = false;
      return window::TryAcquire(slot_->state, p, permits, now,
                                gcra::ParamsGuard{&slot_->params_off, off}, &stale, &slot_->token);
    }
    if (algorithm == static_cast<uint32_t>(Algorithm::kSliding) && permits == 1) {
      // A full ring before its earliest expiry (sliding.h invariant 8):
      // denied with that exact wait, reading neither the ring nor its
      // cached copy. One permit is at most the limit: never "never".
      // params_off: the bound is that of the ring published now.
      const std::atomic<int64_t>* free_at = relaxed(c.hot.free_at);
      if (free_at != nullptr && consistent()) {
        const int64_t bound = free_at->load(std::memory_order_relaxed);
        if (now < bound && slot_->params_off.load(std::memory_order_acquire) == off) {
          stale = false;
          return Decision(false, now, sliding::Until(bound, now));
        }
      }
    }
    if (!consistent()) return Decision();
    Decision w;
    stale = DecideWarm(c, off, algorithm, permits, now, &w);
    return w;
  };
  Decision d = decide();
  // More than the cached amount allows (gcra burst, window limit) is decided
  // again in Decide: "never" only beyond MaxPermits; a global limiter's
  // share may grow, so within its cap it is busy.
  if (__builtin_expect(stale || (!d.granted && d.retry_after_ns < 0), 0)) d = Decide(permits, now);
  CountIn(c, d.granted, permits, now);
  return d;
}

Decision Limiter::TryAcquire(uint32_t permits) {
  assert(valid() && permits >= 1);  // the C API and bindings check permits
  return DecideAndCount(permits, platform::NowNs());
}

Decision Limiter::TryAcquireAt(uint32_t permits, int64_t now) {
  assert(valid() && permits >= 1);
  return DecideAndCount(permits, now);
}

Decision Limiter::Decide(uint32_t permits, int64_t now) const {
  Decision d(false, now, kNanosPerMilli);  // if an updater's change is stuck
  RetryOnSealed([&](const ActiveParams& p) {
    if (!p.writable) {
      d = Decision(false, now, -1, Denial::kReadOnly);  // a read-only mapping never decides
      return true;
    }
    // A decision is dated no earlier than the publish of the parameters it
    // is made under: a clock read before a change is stale for it (a grant
    // dated before a grow, or before a share arrived, would count against
    // a bound that did not allow it).
    now = std::max(now, p.published_ns);
    if (Lapse(p, now)) {
      // Decide under the next stage, at a time no earlier than its change
      // (a ring it rewrote is free only from then on).
      now = std::max(now, platform::NowNs());
      return false;
    }
    if (permits > p.MaxPermits()) {
      d = Decision(false, now, -1, Denial::kNever);
      return true;
    }
    if (p.closed) {
      // A global limiter with amount 0 (no share yet, or lapsed): not now,
      // maybe when a share arrives. Look again at the stage's end or soon.
      const int64_t until_end = p.share.stage_end_ns == INT64_MAX
                                    ? 10 * kNanosPerMilli
                                    : std::clamp<int64_t>(p.share.stage_end_ns - now,
                                                          kNanosPerMilli / 10, 10 * kNanosPerMilli);
      d = Decision(false, now, until_end, Denial::kBusy);
      return true;
    }
    const gcra::ParamsGuard guard{&slot_->params_off, p.off};
    bool sealed = false;  // or stale: the parameters changed; decide again
    Decision x;
    switch (p.spec.algorithm) {
      case Algorithm::kGcra:
        x = gcra::TryAcquire(slot_->state, p.gcra, permits, now, guard, &sealed);
        break;
      case Algorithm::kWindow:
        x = window::TryAcquire(slot_->state, p.window, permits, now, guard, &sealed, &slot_->token);
        break;
      case Algorithm::kSliding:
        x = sliding::TryAcquire(p.ring, permits, now, &sealed);
        break;
      case Algorithm::kLease:
        x = lease::TryAcquireN(p.table, permits, now, &sealed);
        break;
    }
    // A global limiter's amount may grow later: "more than it has now" is
    // busy, not never (MaxPermits above is what can never be granted).
    if (!sealed && x.retry_after_ns < 0 && p.declared.global) {
      x = Decision(false, now, 10 * kNanosPerMilli, Denial::kBusy);
    }
    if (!sealed) d = x;
    return !sealed;
  });
  return d;
}

std::string Limiter::name() const { return slots::NameOf(*slot_); }

LimiterSpec Limiter::spec() const { return Params().spec; }

LimiterStats Limiter::stats() const {
  LimiterStats s;
  s.granted = slot_->granted.load(std::memory_order_relaxed);
  s.denied = slot_->denied.load(std::memory_order_relaxed);
  s.asked = slot_->asked.load(std::memory_order_relaxed);
  s.waits = slot_->waits.load(std::memory_order_relaxed);
  s.wait_ns = slot_->wait_ns.load(std::memory_order_relaxed);
  s.waiting = slot_->waiting.load(std::memory_order_relaxed);
  s.demand = double(slot_->demand_milli.load(std::memory_order_relaxed)) / 1000.0;
  return s;
}

LimiterLevel Limiter::level() const { return LevelAt(platform::NowNs()); }

LimiterLevel Limiter::LevelAt(int64_t now) const {
  const ActiveParams params = Params();
  const ActiveParams* p = &params;
  LimiterLevel l;
  l.capacity = double(p->spec.Capacity());
  if (p->closed) return l;
  if ((p->spec.algorithm == Algorithm::kGcra || p->spec.algorithm == Algorithm::kWindow) &&
      slot_->state.load(std::memory_order_relaxed) == gcra::kSealedState) {
    l.used = l.capacity;  // a change under way: nothing is granted meanwhile
    return l;
  }
  switch (p->spec.algorithm) {
    case Algorithm::kGcra: {
      const int64_t tat = slot_->state.load(std::memory_order_relaxed);
      l.used = gcra::Used(tat, p->gcra, now);
      // (128-bit: the word may be damaged, `now` injected.)
      const __int128 wait =
          static_cast<__int128>(std::max(tat, now)) + p->gcra.cost1 - p->gcra.tau - now;
      l.next_free_ns = static_cast<int64_t>(std::clamp<__int128>(wait, 0, INT64_MAX / 2));
      break;
    }
    case Algorithm::kWindow:
      l.used = double(window::Used(slot_->state.load(std::memory_order_relaxed), p->window, now));
      l.next_free_ns = l.used < l.capacity ? 0 : window::UntilNextWindow(p->window, now);
      break;
    case Algorithm::kSliding:
      l.used = double(sliding::Used(p->ring, now, &l.next_free_ns));
      break;
    case Algorithm::kLease:
      l.used = double(lease::Held(p->table, now, &l.next_free_ns));
      break;
  }
  return l;
}

int64_t MonotonicNowNs() { return platform::NowNs(); }

}  // namespace sluice
