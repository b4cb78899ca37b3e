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
  fork_gen.store(platform::ForkGeneration(), std::memory_order_relaxed);
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
  if (now - epoch >= kDemandIntervalNs &&
      slot->demand_epoch_ns.compare_exchange_strong(epoch, now, std::memory_order_relaxed)) {
    const uint64_t before = slot->demand_asked.exchange(asked, std::memory_order_relaxed);
    if (epoch != 0) {
      const double per_s = double(asked - before) * 1e9 / double(now - epoch);
      slot->demand_milli.store(static_cast<uint64_t>(per_s * 1000), std::memory_order_relaxed);
    }
  }
}

StatusOr<Limiter> Limiter::Attach(std::shared_ptr<Mapping> m, uint32_t index) {
  if (index >= m->capacity()) return Status(Code::kInvalidArgument, "slot index out of range");
  SlotLayout* slot = m->slot(index);
  StatusOr<ActiveParams> p = LoadParams(*m, slot, slot->params_off.load(std::memory_order_acquire));
  if (!p.ok()) return p.status();
  Limiter l;
  l.cache_ = std::make_shared<HandleCache>();
  l.cache_->m = m;
  l.cache_->slot = slot;
  l.cache_->read_only = m->read_only();
  l.cache_->last_flush_ns.store(platform::NowNs(), std::memory_order_relaxed);
  l.cache_->fork_gen.store(platform::ForkGeneration(), std::memory_order_relaxed);
  p->writable = !m->read_only();
  l.cache_->active.store(l.cache_->Keep(std::move(*p)), std::memory_order_release);
  l.m_ = std::move(m);
  l.slot_ = slot;
  l.index_ = index;
  return l;
}

const ActiveParams* HandleCache::Keep(ActiveParams p) {
  auto* node = new KeptParams{std::move(p), kept.load(std::memory_order_relaxed)};
  // release: a thread that follows `kept` (only the destructor, after every
  // user is gone) sees the node's contents. Nodes are never removed.
  while (!kept.compare_exchange_weak(node->next, node, std::memory_order_release,
                                     std::memory_order_relaxed)) {
  }
  return &node->params;
}

HandleCache::~HandleCache() {
  Flush();
  for (KeptParams* n = kept.load(std::memory_order_acquire); n != nullptr;) {
    KeptParams* next = n->next;
    delete n;
    n = next;
  }
}

const ActiveParams* Limiter::Params() const {
  const ActiveParams* p = cache_->active.load(std::memory_order_acquire);
  // acquire pairs with the release store of params_off by Define: a new
  // offset's record is fully written before we read it in Reload.
  if (slot_->params_off.load(std::memory_order_acquire) != p->off) p = Reload();
  return p;
}

// Lock-free (no mutex a fork child could inherit locked): threads that
// reload at once may each validate the new record; one publishes it, the
// others' copies stay kept (unused) until the cache dies. Bounded by the
// number of racing threads per parameter change.
const ActiveParams* Limiter::Reload() const {
  const ActiveParams* cur = cache_->active.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t off = slot_->params_off.load(std::memory_order_acquire);
    if (cur->off == off) return cur;
    StatusOr<ActiveParams> p = LoadParams(*m_, slot_, off);
    // A record that fails validation is never used; keep the last good one.
    if (!p.ok()) return cur;
    p->writable = !cache_->read_only;
    const ActiveParams* fresh = cache_->Keep(std::move(*p));
    // acq_rel: publishes the new ActiveParams to readers of `active`
    // (acquire loads in Params and the hot path).
    if (cache_->active.compare_exchange_strong(cur, fresh, std::memory_order_acq_rel,
                                               std::memory_order_acquire)) {
      return fresh;
    }
    // Another thread published first: cur is its record; check it again.
  }
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

}  // namespace

void Limiter::Count(bool granted, uint32_t permits, int64_t now) const {
  CountIn(*cache_, granted, permits, now);
}

void Limiter::FlushStats() {
  if (cache_) cache_->Flush();
}

// The hot path. Kept in one function so the compiler can inline the gcra
// and window algorithms and the counting: one clock read, two loads of the
// slot's hot line (state; params_off), one CAS on it, and process-local
// loads and stores.
__attribute__((always_inline)) inline Decision Limiter::DecideAndCount(uint32_t permits,
                                                                       int64_t now) const {
  HandleCache& c = *cache_;
  const ActiveParams* p = c.active.load(std::memory_order_acquire);
  // gcra and window check params_off themselves (ParamsGuard, after reading
  // the state); sliding and lease go through Decide, which reloads.
  Decision d;
  bool stale = false;
  const gcra::ParamsGuard guard{&slot_->params_off, p->off};
  if (__builtin_expect(!p->writable, 0)) {
    d = Decision(false, now, -1, Denial::kReadOnly);  // a read-only mapping never decides
  } else if (p->spec.algorithm == Algorithm::kGcra) {
    d = gcra::TryAcquire(slot_->state, p->gcra, permits, now, guard, &stale);
  } else if (p->spec.algorithm == Algorithm::kWindow) {
    d = window::TryAcquire(slot_->state, p->window, permits, now, guard, &stale, &slot_->token);
  } else {
    d = Decide(permits, now);
  }
  if (__builtin_expect(stale, 0)) d = Decide(permits, now);
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
    if (!sealed) d = x;
    return !sealed;
  });
  return d;
}

std::string Limiter::name() const { return slots::NameOf(*slot_); }

LimiterSpec Limiter::spec() const { return Params()->spec; }

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
  const ActiveParams* p = Params();
  LimiterLevel l;
  l.capacity = double(p->spec.Capacity());
  switch (p->spec.algorithm) {
    case Algorithm::kGcra: {
      const int64_t tat = slot_->state.load(std::memory_order_relaxed);
      l.used = gcra::Used(tat, p->gcra, now);
      const int64_t wait = std::max(tat, now) + p->gcra.cost1 - p->gcra.tau - now;
      l.next_free_ns = std::max<int64_t>(0, wait);
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
