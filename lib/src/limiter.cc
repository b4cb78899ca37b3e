// Limiter handles: the hot path (TryAcquire), blocking acquire, leases and
// batched statistics. The algorithms themselves live in gcra/window/
// sliding/lease_table.
#include "sluice/limiter.h"

#include <algorithm>
#include <cassert>
#include <mutex>
#include <vector>

#include "layout.h"
#include "sluice/duration.h"
#include "mapping.h"
#include "params.h"
#include "platform.h"
#include "slot_table.h"

namespace sluice {

// Process-local state of a handle, shared by its copies.
struct HandleCache {
  std::shared_ptr<Mapping> m;
  SlotLayout* slot = nullptr;
  bool read_only = false;
  // The current validated parameters; older ones stay alive (a reader may
  // still use them) until the cache dies.
  std::atomic<const ActiveParams*> active{nullptr};
  std::mutex reload_mu;
  std::vector<std::unique_ptr<ActiveParams>> all;
  // Batched counters. Increments are plain load+store (no locked RMW on the
  // hot path): exact for one thread, approximate when threads share a
  // handle. Flushed every kFlushCalls decisions or kFlushNs.
  std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint32_t> calls{0};
  std::atomic<int64_t> last_flush_ns{0};
  // platform::ForkGeneration() the counters belong to: a fork child drops
  // the parent's unflushed counts instead of flushing them a second time.
  std::atomic<uint64_t> fork_gen{0};

  void Flush();
  ~HandleCache() { Flush(); }
};

namespace {

constexpr uint32_t kFlushCalls = 64;
constexpr int64_t kFlushNs = kNanosPerMilli;
constexpr int64_t kDemandIntervalNs = 100 * kNanosPerMilli;
constexpr int kSealedRetries = 3;
constexpr int64_t kReclaimPollNs = 10 * kNanosPerMilli;

Status TimeoutStatus() { return Status(Code::kTimeout, "timed out waiting for permits"); }
Status CancelledStatus() { return Status(Code::kCancelled, "cancelled"); }
Status TooManyPermits(uint32_t n, const LimiterSpec& s) {
  return Status(Code::kInvalidArgument, std::to_string(n) + " permits can never be granted by " +
                                            s.Describe() + " (capacity " +
                                            std::to_string(s.Capacity()) + ")");
}

}  // namespace

void HandleCache::Flush() {
  if (read_only || slot == nullptr) return;
  if (fork_gen.load(std::memory_order_relaxed) != platform::ForkGeneration()) {
    granted.store(0, std::memory_order_relaxed);
    denied.store(0, std::memory_order_relaxed);
    fork_gen.store(platform::ForkGeneration(), std::memory_order_relaxed);
  }
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
  l.cache_->all.push_back(std::make_unique<ActiveParams>(std::move(*p)));
  l.cache_->active.store(l.cache_->all.back().get(), std::memory_order_release);
  l.m_ = std::move(m);
  l.slot_ = slot;
  l.index_ = index;
  return l;
}

const ActiveParams* Limiter::Params() const {
  const ActiveParams* p = cache_->active.load(std::memory_order_acquire);
  // acquire pairs with the release store of params_off by Define: a new
  // offset's record is fully written before we read it in Reload.
  if (slot_->params_off.load(std::memory_order_acquire) != p->off) p = Reload();
  return p;
}

const ActiveParams* Limiter::Reload() const {
  std::lock_guard<std::mutex> lock(cache_->reload_mu);
  const ActiveParams* cur = cache_->active.load(std::memory_order_acquire);
  const uint64_t off = slot_->params_off.load(std::memory_order_acquire);
  if (cur->off == off) return cur;
  StatusOr<ActiveParams> p = LoadParams(*m_, slot_, off);
  // A record that fails validation is never used; keep the last good one.
  if (!p.ok()) return cur;
  p->writable = !cache_->read_only;
  cache_->all.push_back(std::make_unique<ActiveParams>(std::move(*p)));
  cache_->active.store(cache_->all.back().get(), std::memory_order_release);
  return cache_->all.back().get();
}

void Limiter::Count(bool granted, uint32_t permits, int64_t now) const {
  HandleCache& c = *cache_;
  if (c.fork_gen.load(std::memory_order_relaxed) != platform::ForkGeneration()) c.Flush();
  std::atomic<uint64_t>& n = granted ? c.granted : c.denied;
  n.store(n.load(std::memory_order_relaxed) + permits, std::memory_order_relaxed);
  const uint32_t calls = c.calls.load(std::memory_order_relaxed) + 1;
  c.calls.store(calls, std::memory_order_relaxed);
  if (calls >= kFlushCalls || now - c.last_flush_ns.load(std::memory_order_relaxed) >= kFlushNs) {
    c.Flush();
  }
}

void Limiter::FlushStats() {
  if (cache_) cache_->Flush();
}

// The hot path. Kept in one function so the compiler can inline the gcra
// and window algorithms and the counting: one clock read, two loads of the
// slot's hot line (params_off; state), one CAS on it, and process-local
// loads and stores.
__attribute__((always_inline)) inline Decision Limiter::DecideAndCount(uint32_t permits,
                                                                  int64_t now) const {
  HandleCache& c = *cache_;
  const ActiveParams* p = c.active.load(std::memory_order_acquire);
  // acquire pairs with the release store of params_off by Define.
  const bool changed = slot_->params_off.load(std::memory_order_acquire) != p->off;
  Decision d;
  if (__builtin_expect(changed || !p->writable, 0)) {
    if (c.read_only) return {false, now, -1};
    d = Decide(permits, now);
  } else if (p->spec.algorithm == Algorithm::kGcra) {
    d = gcra::TryAcquire(slot_->state, p->gcra, permits, now);
  } else if (p->spec.algorithm == Algorithm::kWindow) {
    d = window::TryAcquire(slot_->state, p->window, permits, now);
  } else {
    d = Decide(permits, now);
  }
  // Count in process memory; see HandleCache.
  if (__builtin_expect(c.fork_gen.load(std::memory_order_relaxed) != platform::ForkGeneration(), 0)) {
    c.Flush();
  }
  std::atomic<uint64_t>& n = d.granted ? c.granted : c.denied;
  n.store(n.load(std::memory_order_relaxed) + permits, std::memory_order_relaxed);
  const uint32_t calls = c.calls.load(std::memory_order_relaxed) + 1;
  c.calls.store(calls, std::memory_order_relaxed);
  if (__builtin_expect(calls >= kFlushCalls ||
                           now - c.last_flush_ns.load(std::memory_order_relaxed) >= kFlushNs,
                       0)) {
    c.Flush();
  }
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
  Decision d;
  for (int attempt = 0; attempt < kSealedRetries; ++attempt) {
    const ActiveParams* p = Params();
    bool sealed = false;
    switch (p->spec.algorithm) {
      case Algorithm::kGcra: d = gcra::TryAcquire(slot_->state, p->gcra, permits, now); break;
      case Algorithm::kWindow: d = window::TryAcquire(slot_->state, p->window, permits, now); break;
      case Algorithm::kSliding: d = sliding::TryAcquire(p->ring, permits, now, &sealed); break;
      case Algorithm::kLease: d = lease::TryAcquireN(p->table, permits, now, &sealed); break;
    }
    if (!sealed) break;
    Reload();  // the ring was retired by a resize: use the new one
  }
  return d;
}

namespace {

// Registers a sleeper for the span of a wait (the "waiting" gauge).
class WaitScope {
 public:
  WaitScope(SlotLayout* slot, int64_t start) : slot_(slot), start_(start) {
    slot_->waiting.fetch_add(1, std::memory_order_relaxed);
  }
  ~WaitScope() {
    slot_->waiting.fetch_sub(1, std::memory_order_relaxed);
    if (slept_) {
      slot_->waits.fetch_add(1, std::memory_order_relaxed);
      slot_->wait_ns.fetch_add(static_cast<uint64_t>(platform::NowNs() - start_),
                               std::memory_order_relaxed);
    }
  }
  void Slept() { slept_ = true; }

 private:
  SlotLayout* slot_;
  int64_t start_;
  bool slept_ = false;
};

// Waits for a lease holder entry to free: tries, then sleeps on the slot's
// futex until a release bumps wake_seq, the soonest holder lapses, or the
// deadline. No lost wake-up: the waiter registers in `sleepers` before it
// reads wake_seq; Release bumps wake_seq before it reads `sleepers` (all
// seq_cst), so either the waiter sees the new wake_seq (and the freed entry)
// or Release sees the sleeper and wakes the futex.
// reclaim: also wake every kReclaimPollNs to look for holders that died
// (nobody releases a dead holder's lease, so no futex wake comes).
template <typename TryFn>
Status WaitForLease(SlotLayout* slot, TryFn try_once, int64_t deadline, bool reclaim,
                    const CancelCheck& cancel, WaitScope* scope) {
  struct Sleeper {
    explicit Sleeper(SlotLayout* s) : s_(s) { s_->sleepers.fetch_add(1, std::memory_order_seq_cst); }
    ~Sleeper() { s_->sleepers.fetch_sub(1, std::memory_order_seq_cst); }
    SlotLayout* s_;
  } sleeper(slot);
  for (;;) {
    const uint32_t seq = slot->wake_seq.load(std::memory_order_seq_cst);
    const int64_t now = platform::NowNs();
    int64_t retry = 0;
    if (try_once(now, &retry)) return Status::OK();
    if (deadline >= 0 && now >= deadline) return TimeoutStatus();
    if (cancel.fn && cancel.fn(cancel.arg)) return CancelledStatus();
    int64_t until = now + std::max<int64_t>(retry, 1);
    if (deadline >= 0) until = std::min(until, deadline);
    if (cancel.fn) until = std::min(until, now + 50 * kNanosPerMilli);
    if (reclaim) until = std::min(until, now + kReclaimPollNs);
    scope->Slept();
    platform::FutexWait(&slot->wake_seq, seq, until);
  }
}

}  // namespace

Status Limiter::Acquire(uint32_t permits, int64_t timeout_ns, CancelCheck cancel,
                        int64_t* granted_ns) {
  int64_t unused_grant = 0;
  if (granted_ns == nullptr) granted_ns = &unused_grant;
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  if (permits == 0) return Status(Code::kInvalidArgument, "permits must be >= 1");
  int64_t now = platform::NowNs();
  const int64_t deadline = timeout_ns < 0 ? -1 : now + timeout_ns;
  auto max_wait = [&] { return deadline < 0 ? int64_t{-1} : std::max<int64_t>(0, deadline - now); };
  WaitScope scope(slot_, now);
  for (int attempt = 0;; ++attempt) {
    const ActiveParams* p = Params();
    switch (p->spec.algorithm) {
      case Algorithm::kGcra: {
        gcra::Reservation r = gcra::Reserve(slot_->state, p->gcra, permits, now, max_wait());
        if (!r.ok) {
          Count(false, permits, now);
          return r.retry_after_ns < 0 ? TooManyPermits(permits, p->spec) : TimeoutStatus();
        }
        Count(true, permits, now);
        *granted_ns = r.grant_ns;
        if (r.grant_ns <= now) return Status::OK();
        scope.Slept();
        if (!platform::SleepUntil(r.grant_ns, cancel)) {
          gcra::Refund(slot_->state, r);
          return CancelledStatus();
        }
        return Status::OK();
      }
      case Algorithm::kSliding: {
        std::vector<sliding::Undo> undo(permits);
        sliding::Reservation r = sliding::Reserve(p->ring, permits, now, max_wait(), undo.data());
        if (r.sealed && attempt < kSealedRetries) {
          Reload();
          continue;
        }
        if (!r.ok) {
          Count(false, permits, now);
          return r.retry_after_ns < 0 ? TooManyPermits(permits, p->spec) : TimeoutStatus();
        }
        Count(true, permits, now);
        *granted_ns = r.grant_ns;
        if (r.grant_ns <= now) return Status::OK();
        scope.Slept();
        if (!platform::SleepUntil(r.grant_ns, cancel)) {
          sliding::Refund(p->ring, permits, undo.data(), r.grant_ns);
          return CancelledStatus();
        }
        return Status::OK();
      }
      case Algorithm::kWindow: {
        Decision d = Decide(permits, now);
        if (d.granted) {
          Count(true, permits, now);
          *granted_ns = d.now_ns;
          return Status::OK();
        }
        if (d.retry_after_ns < 0) return TooManyPermits(permits, p->spec);
        const int64_t wake = now + d.retry_after_ns;
        if (deadline >= 0 && wake > deadline) {
          Count(false, permits, now);
          return TimeoutStatus();
        }
        scope.Slept();
        if (!platform::SleepUntil(wake, cancel)) return CancelledStatus();
        now = platform::NowNs();
        continue;
      }
      case Algorithm::kLease: {
        if (permits > p->spec.holders) return TooManyPermits(permits, p->spec);
        Status s = WaitForLease(
            slot_,
            [&](int64_t t, int64_t* retry) {
              Decision d = Decide(permits, t);
              *retry = d.retry_after_ns;
              if (d.granted) *granted_ns = t;
              return d.granted;
            },
            deadline, p->spec.reclaim, cancel, &scope);
        Count(s.ok(), permits, platform::NowNs());
        return s;
      }
    }
  }
}

StatusOr<Lease> Limiter::AcquireLease(int64_t timeout_ns, CancelCheck cancel) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  const int64_t start = platform::NowNs();
  if (Params()->spec.algorithm != Algorithm::kLease) {
    return Status(Code::kInvalidArgument, "limiter '" + name() + "' is not a lease limiter");
  }
  const int64_t deadline = timeout_ns < 0 ? -1 : start + timeout_ns;
  WaitScope scope(slot_, start);
  Lease out;
  Status s = WaitForLease(
      slot_,
      [&](int64_t now, int64_t* retry) {
        for (int attempt = 0; attempt < kSealedRetries; ++attempt) {
          const ActiveParams* p = Params();
          if (p->spec.algorithm != Algorithm::kLease) return false;
          lease::Grant g = lease::TryAcquire(p->table, now, /*real_time=*/true);
          if (g.sealed) {
            Reload();
            continue;
          }
          *retry = g.retry_after_ns;
          if (g.ok) out = g.lease;
          return g.ok;
        }
        *retry = 1;
        return false;
      },
      deadline, Params()->spec.reclaim, cancel, &scope);
  Count(s.ok(), 1, platform::NowNs());
  if (!s.ok()) return s;
  return out;
}

StatusOr<Lease> Limiter::TryAcquireLeaseAt(int64_t now_ns) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  for (int attempt = 0; attempt < kSealedRetries; ++attempt) {
    const ActiveParams* p = Params();
    if (p->spec.algorithm != Algorithm::kLease) {
      return Status(Code::kInvalidArgument, "limiter '" + name() + "' is not a lease limiter");
    }
    lease::Grant g = lease::TryAcquire(p->table, now_ns, /*real_time=*/false);
    if (g.sealed) {
      Reload();
      continue;
    }
    Count(g.ok, 1, now_ns);
    if (g.ok) return g.lease;
    return Status(Code::kTimeout, "all " + std::to_string(p->spec.holders) + " leases are held");
  }
  return Status(Code::kTimeout, "lease table is being resized");
}

Status Limiter::ReleaseLease(const Lease& lease) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  const ActiveParams* p = Params();
  if (p->spec.algorithm != Algorithm::kLease ||
      !lease::Release(p->table, lease, platform::NowNs())) {
    return Status(Code::kNotHeld, "lease " + std::to_string(lease.token) +
                                      " is not held (released, expired or reclaimed)");
  }
  slot_->wake_seq.fetch_add(1, std::memory_order_seq_cst);
  if (slot_->sleepers.load(std::memory_order_seq_cst) > 0) platform::FutexWakeAll(&slot_->wake_seq);
  return Status::OK();
}

Status Limiter::RenewLease(Lease* lease) { return RenewLeaseAt(lease, platform::NowNs()); }

Status Limiter::RenewLeaseAt(Lease* lease, int64_t now_ns) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  const ActiveParams* p = Params();
  if (p->spec.algorithm != Algorithm::kLease || !lease::Renew(p->table, lease, now_ns)) {
    return Status(Code::kNotHeld, "lease " + std::to_string(lease->token) +
                                      " is not held (released, expired or reclaimed)");
  }
  return Status::OK();
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
