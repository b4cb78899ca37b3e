// Blocking acquires and leases: reservations slept out with
// clock_nanosleep, and lease waits on a process-shared futex.
#include <algorithm>
#include <cassert>
#include <optional>
#include <vector>

#include "handle_cache.h"
#include "lease_queue.h"
#include "platform.h"
#include "slot_table.h"
#include "sluice/duration.h"
#include "sluice/limiter.h"

namespace sluice {

namespace {

constexpr int64_t kReclaimPollNs = 10 * kNanosPerMilli;

Status TimeoutStatus() { return Status(Code::kTimeout, "timed out waiting for permits"); }
Status CorruptParams(const std::string& name) {
  return Status(Code::kCorrupt,
                "limiter '" + name + "': its published parameter record fails validation");
}
Status CancelledStatus() { return Status(Code::kCancelled, "cancelled"); }
// A lease try's denial, built with one allocation (an expected outcome,
// on the path a saturated caller takes on every call).
Status AllHeld(uint64_t holders) {
  std::string m;
  m.reserve(48);
  m += "all ";
  m += std::to_string(holders);
  m += " leases are held";
  return Status(Code::kTimeout, std::move(m));
}
// WaitForLease's "never": the caller replaces it by a message with its
// request and the current parameters.
Status NeverStatus() { return Status(Code::kInvalidArgument, ""); }
bool IsNever(const Status& s) { return s.code() == Code::kInvalidArgument && s.message().empty(); }

// now + timeout_ns, or -1 (no deadline) for a negative timeout or one so
// large that the sum would overflow (hundreds of years: forever).
int64_t DeadlineAfter(int64_t now, int64_t timeout_ns) {
  if (timeout_ns < 0 || timeout_ns > INT64_MAX - now) return -1;
  return now + timeout_ns;
}
Status NeverGranted(uint32_t n, const ActiveParams& p) {
  if (p.declared.global) {
    return Status(Code::kInvalidArgument, std::to_string(n) + " permits can never be granted by " +
                                              p.declared.Describe() + " (at most " +
                                              std::to_string(p.MaxPermits()) + " at once)");
  }
  Status st = p.spec.CheckPermits(n);
  // A "never" answer from a decision whose parameters changed since: still
  // an invalid request, described under the parameters it was refused by.
  return st.ok() ? Status(Code::kInvalidArgument, std::to_string(n) + " permits exceed " +
                                                      p.spec.Describe() + " while it was in force")
                 : st;
}

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

// Waits for a lease holder entry to free, in arrival order (lease_queue.h):
// tries at once when nobody is queued, else takes a ticket; the waiter
// served tries, the others wait behind it (skipping it once a holder has
// been free for kSkipNs under it). Sleeps on the slot's futex until a
// release or a hand-over bumps wake_seq, the soonest holder lapses, or the
// deadline. No lost wake-up (a store-load pair on each side, all seq_cst):
// the waiter registers in `sleepers`, then a seq_cst fence, then reads
// wake_seq and the table; a release (or an undone claim) CASes the entry
// free, then reads `sleepers` (lease_table.cc, WakeSleepers). If it reads
// no sleeper, its CAS precedes the waiter's registration in the single
// total order, so the fence makes every later table read of the waiter see
// the freed entry. If it reads one, it bumps
// wake_seq and wakes the futex: a waiter that read wake_seq before the bump
// does not sleep on the old value, one that read it after sees the entry.
// (Registered once per wait: every release during the wait wakes.)
// reclaim: also wake every kReclaimPollNs to look for holders that died
// (nobody releases a dead holder's lease, so no futex wake comes).
// try_once(now, &retry) returns true when granted; a denial with retry < 0
// ("never": the request exceeds the current capacity, which may have shrunk
// while we waited) ends the wait with kNeverStatus, which the caller turns
// into its own message. table() returns the current holder table.
template <typename TryFn, typename TableFn>
Status WaitForLease(SlotLayout* slot, TryFn try_once, TableFn table, int64_t deadline, bool reclaim,
                    const CancelCheck& cancel, WaitScope* scope) {
  struct Sleeper {
    explicit Sleeper(SlotLayout* s) : s_(s) {
      s_->sleepers.fetch_add(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);  // see above
    }
    ~Sleeper() { s_->sleepers.fetch_sub(1, std::memory_order_seq_cst); }
    SlotLayout* s_;
  } sleeper(slot);
  lease::Queue queue(&slot->state, &slot->queue_serving, &slot->queue_since);
  auto wake_all = [slot] {
    slot->wake_seq.fetch_add(1, std::memory_order_seq_cst);
    if (slot->sleepers.load(std::memory_order_seq_cst) > 1) platform::FutexWakeAll(&slot->wake_seq);
  };
  bool queued = false;
  uint32_t ticket = 0;
  // Leaving: the next ticket's turn, or this one marked gone (invariants 1
  // and 2).
  auto leave = [&](Status s) {
    if (queued && queue.Leave(ticket, platform::NowNs())) wake_all();
    return s;
  };
  for (;;) {
    const uint32_t seq = slot->wake_seq.load(std::memory_order_seq_cst);
    const int64_t now = platform::NowNs();
    if (!queued && !queue.Empty() && (deadline < 0 || now < deadline)) {
      ticket = queue.TakeTicket();
      lease::Register(table(), ticket);
      queued = true;
    }
    const int64_t ahead = queued ? queue.Ahead(ticket) : 0;
    int64_t until = 0;
    if (ahead <= 0) {
      // Served (or out of the queue's order: competes freely).
      int64_t retry = 0;
      if (try_once(now, &retry)) return leave(Status::OK());
      if (retry < 0) return leave(NeverStatus());  // never a 1 ns sleep: that would spin
      until = now + std::max<int64_t>(retry, 1);
      if (!queued && (deadline < 0 || now < deadline)) {
        // Tried at once on an empty queue and failed: queue up now.
        ticket = queue.TakeTicket();
        lease::Register(table(), ticket);
        queued = true;
        if (queue.Ahead(ticket) != 0) continue;  // someone came first
      }
    } else {
      // Behind the ticket served: skip it once a holder has been free for
      // kSkipNs under it (invariant 2), else wait for a hand-over.
      const uint32_t serving = queue.Serving();
      const lease::Table t = table();
      if (lease::ServedWaiterDied(t, serving)) {
        if (queue.MoveOn(serving, now)) wake_all();
        continue;
      }
      int64_t next_lapse = INT64_MAX;
      const int64_t free_since = lease::FreeSince(t, now, &next_lapse);
      const int64_t from = free_since != INT64_MAX
                               ? std::max(free_since, queue.ServedSince(serving, now))
                               : std::min(next_lapse, INT64_MAX - 2 * lease::kSkipNs);
      if (free_since != INT64_MAX && now - from >= lease::kSkipNs) {
        if (queue.MoveOn(serving, now)) wake_all();
        continue;
      }
      until = std::max(from + lease::kSkipNs, now + 1);
    }
    if (deadline >= 0 && now >= deadline) return leave(TimeoutStatus());
    if (cancel.fn && cancel.fn(cancel.arg)) return leave(CancelledStatus());
    if (deadline >= 0) until = std::min(until, deadline);
    if (cancel.fn) until = std::min(until, now + 50 * kNanosPerMilli);
    if (reclaim) until = std::min(until, now + kReclaimPollNs);
    scope->Slept();
    platform::FutexWait(&slot->wake_seq, seq, until);
  }
}

// Waits (futex on wake_seq) for a global limiter's parameters to change:
// a share arriving, or its stage ending. OK to look again; kTimeout or
// kCancelled.
Status WaitForChange(SlotLayout* slot_, const ActiveParams& p, int64_t deadline,
                     const CancelCheck& cancel, WaitScope* scope) {
  const uint32_t seq = slot_->wake_seq.load(std::memory_order_seq_cst);
  const int64_t now = platform::NowNs();
  if (deadline >= 0 && now >= deadline) return TimeoutStatus();
  if (cancel.fn && cancel.fn(cancel.arg)) return CancelledStatus();
  // Every change bumps wake_seq and wakes its futex; the stage's own end
  // needs no waker (the next decision lapses it); poll now and then anyway.
  int64_t until = now + 50 * kNanosPerMilli;
  // The stage's end, when it is still ahead (one already passed is lapsed
  // by the caller's next decision).
  if (p.share.stage_end_ns > now && p.share.stage_end_ns != INT64_MAX) {
    until = std::min(until, p.share.stage_end_ns);
  }
  if (deadline >= 0) until = std::min(until, deadline);
  if (slot_->params_off.load(std::memory_order_acquire) != p.off) return Status::OK();
  scope->Slept();
  platform::FutexWait(&slot_->wake_seq, seq, std::max(until, now + 1));
  return Status::OK();
}

// The lease table as cached by the handle, when it is the published one
// (the common case: no full parameter copy for a lease operation).
bool CachedTable(const HandleCache& c, const SlotLayout* slot, int64_t now, lease::Table* out) {
  // A seqlock read as HandleCache::ReadHot/ReadWarm, of the fields needed
  // only, with the table copied straight into *out.
  auto relaxed = [](const auto& x) { return __atomic_load_n(&x, __ATOMIC_RELAXED); };
  const uint64_t seq = c.seq.load(std::memory_order_acquire);
  const uint64_t off = relaxed(c.hot.off);
  const bool usable = relaxed(c.hot.algorithm) == static_cast<uint32_t>(Algorithm::kLease) &&
                      relaxed(c.hot.writable) != 0 && now < relaxed(c.hot.hot_until_ns) &&
                      now >= relaxed(c.hot.published_ns) && relaxed(c.warm_table.off) == off;
  LoadWords(c.warm_table.part, out);
  std::atomic_thread_fence(std::memory_order_acquire);
  return usable && (seq & 1) == 0 && c.seq.load(std::memory_order_relaxed) == seq &&
         slot->params_off.load(std::memory_order_acquire) == off;
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
  // Capacity first, for every algorithm: a request that can never be granted
  // fails at once, before anything is reserved or allocated for it.
  if (const ActiveParams p = Params(); permits > p.MaxPermits()) {
    Count(false, permits, now);
    return NeverGranted(permits, p);
  }
  const int64_t deadline = DeadlineAfter(now, timeout_ns);
  WaitScope scope(slot_, now);
  // gcra and sliding reserve a turn (invariant 3/4 of gcra.h/sliding.h):
  // count it, then sleep to it; a cancelled sleep gives the turn back. A
  // turn reserved under parameters that changed before it came is not
  // used (nullopt: reserve again under the new ones; the old turn stays
  // spent, which can only deny more): a shrink binds sleepers too. A turn
  // is never reserved past the end of a global limiter's share stage: the
  // amount after it is not known yet.
  bool counted = false;
  auto take_turn = [&](const ActiveParams& p, bool ok, int64_t retry_after_ns, int64_t grant_ns,
                       auto refund) -> std::optional<Status> {
    if (!ok && retry_after_ns >= 0 && p.hot_until_ns != INT64_MAX && p.hot_until_ns > now &&
        (deadline < 0 || p.hot_until_ns <= deadline)) {
      // Not before the stage ends, which comes before our deadline: wait
      // for it and decide under the next stage.
      scope.Slept();
      if (!platform::SleepUntil(p.hot_until_ns, cancel)) return CancelledStatus();
      now = platform::NowNs();
      return std::nullopt;
    }
    if (!counted) Count(ok, permits, now);
    counted = true;
    if (!ok) return retry_after_ns < 0 ? NeverGranted(permits, p) : TimeoutStatus();
    *granted_ns = grant_ns;
    if (grant_ns <= now) return Status::OK();  // decided now, like TryAcquire
    scope.Slept();
    if (!platform::SleepUntil(grant_ns, cancel)) {
      refund();
      return CancelledStatus();
    }
    // acquire: pairs with the updater's release store of params_off.
    if (slot_->params_off.load(std::memory_order_acquire) == p.off) return Status::OK();
    // A change since: the turn stands if it kept the amounts it was taken
    // under (a share refreshed with the same amount) and still comes
    // before the stage ends; otherwise reserve again under the new ones.
    const ActiveParams q = Params();
    if (q.amount_gen == p.amount_gen && grant_ns < q.hot_until_ns) {
      return Status::OK();
    }
    now = platform::NowNs();
    return std::nullopt;
  };
  // The longest wait a reservation may take: to the deadline, and before
  // the stage ends.
  auto max_wait = [&](const ActiveParams& p) {
    int64_t w = deadline < 0 ? int64_t{-1} : std::max<int64_t>(0, deadline - now);
    if (p.hot_until_ns != INT64_MAX) {
      const int64_t stage = std::max<int64_t>(0, p.hot_until_ns - now - 1);
      w = w < 0 ? stage : std::min(w, stage);
    }
    return w;
  };
  uint64_t stale_off = 0;  // gcra: the record a reservation last found stale
  for (;;) {
    const ActiveParams p = Params();
    now = std::max(now, p.published_ns);  // dated no earlier (limiter.cc Decide)
    if (Lapse(p, now)) {
      // Its share ended: decide under the next stage. Not applied yet (a
      // change in progress elsewhere): wait a little rather than spin.
      if (Params().off == p.off) {
        if (deadline >= 0 && now >= deadline) {
          Count(false, permits, now);
          return TimeoutStatus();
        }
        scope.Slept();
        if (!platform::SleepUntil(now + kNanosPerMilli / 10, cancel)) return CancelledStatus();
      }
      now = platform::NowNs();
      continue;
    }
    if (p.closed || permits > p.spec.Capacity()) {
      if (!p.declared.global) return *take_turn(p, false, -1, 0, [] {});
      // A global limiter without (enough) amount now: wait for a share.
      if (Status s = WaitForChange(slot_, p, deadline, cancel, &scope); !s.ok()) {
        Count(false, permits, now);
        return s;
      }
      now = platform::NowNs();
      continue;
    }
    switch (p.spec.algorithm) {
      case Algorithm::kGcra: {
        gcra::Reservation r = gcra::Reserve(slot_->state, p.gcra, permits, now, max_wait(p),
                                            gcra::ParamsGuard{&slot_->params_off, p.off});
        if (r.stale) {
          if (slot_->state.load(std::memory_order_acquire) == gcra::kSealedState) {
            // A change under way (or left half done by a dead updater, which
            // Repair finishes): look again shortly.
            slots::Repair(*m_, index_);
            if (deadline >= 0 && now >= deadline) {
              Count(false, permits, now);
              return TimeoutStatus();
            }
            if (!platform::SleepUntil(now + kNanosPerMilli / 10, cancel)) return CancelledStatus();
            now = platform::NowNs();
            continue;
          }
          // The parameters changed: reserve under the new ones. Stale again
          // under the same record means the published one fails validation
          // (Params() keeps the last good one): say so instead of spinning.
          if (p.off == stale_off) return CorruptParams(name());
          stale_off = p.off;
          continue;
        }
        if (auto s = take_turn(p, r.ok, r.retry_after_ns, r.grant_ns,
                               [&] { gcra::Refund(slot_->state, r); })) {
          return *s;
        }
        continue;
      }
      case Algorithm::kSliding: {
        // permits <= limit <= kMaxSlidingLimit: a bounded allocation.
        std::vector<sliding::Undo> undo(permits);
        sliding::Reservation r;
        ActiveParams used = p;
        if (!RetryOnSealed([&](const ActiveParams& q) {
              used = q;
              // changed (less room, or a stage that ended): the loop looks again
              if (permits > q.ring.len || now >= q.hot_until_ns) return true;
              r = sliding::Reserve(q.ring, permits, now, max_wait(q), undo.data());
              return !r.sealed;
            })) {
          // An updater died half way and was repaired: wait a little.
          if (deadline >= 0 && now >= deadline) return *take_turn(p, false, 0, 0, [] {});
          if (!platform::SleepUntil(now + kNanosPerMilli, cancel)) return CancelledStatus();
          now = platform::NowNs();
          continue;
        }
        if (permits > used.ring.len || now >= used.hot_until_ns) continue;
        if (auto s = take_turn(used, r.ok, r.retry_after_ns, r.grant_ns, [&] {
              sliding::Refund(used.ring, permits, undo.data(), r.grant_ns);
            })) {
          return *s;
        }
        continue;
      }
      case Algorithm::kWindow: {
        Decision d = Decide(permits, now);
        if (d.granted) {
          Count(true, permits, now);
          *granted_ns = d.now_ns;
          return Status::OK();
        }
        if (d.retry_after_ns < 0) {  // the limit shrank below permits while we slept
          Count(false, permits, now);
          return NeverGranted(permits, Params());
        }
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
        Status s = WaitForLease(
            slot_,
            [&](int64_t t, int64_t* retry) {
              Decision d = Decide(permits, t);
              *retry = d.retry_after_ns;
              if (d.granted) *granted_ns = t;
              return d.granted;
            },
            [&] { return Params().table; }, deadline, p.spec.reclaim, cancel, &scope);
        Count(s.ok(), permits, platform::NowNs());
        // Holders shrank below permits while we waited: that is final.
        if (IsNever(s)) return NeverGranted(permits, Params());
        return s;
      }
    }
  }
}

StatusOr<Lease> Limiter::AcquireLease(int64_t timeout_ns, CancelCheck cancel) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  // No wait: one try, on the handle's cached table (no queue, no sleeper).
  if (timeout_ns == 0 && cancel.fn == nullptr) return TryLease(platform::NowNs(), true);
  const int64_t start = platform::NowNs();
  const ActiveParams first = Params();
  if (first.spec.algorithm != Algorithm::kLease) {
    return Status(Code::kInvalidArgument, "limiter '" + name() + "' is not a lease limiter");
  }
  const int64_t deadline = DeadlineAfter(start, timeout_ns);
  WaitScope scope(slot_, start);
  Lease out;
  Status s = WaitForLease(
      slot_,
      [&](int64_t now, int64_t* retry) {
        bool ok = false;
        *retry = kNanosPerMilli;  // if an updater's change is stuck
        RetryOnSealed([&](const ActiveParams& p) {
          if (p.spec.algorithm != Algorithm::kLease) return true;
          now = std::max(now, p.published_ns);  // dated no earlier (limiter.cc Decide)
          if (Lapse(p, now)) return false;      // decide under the next stage
          if (p.closed || (p.table.len == 0 && p.declared.global)) {
            *retry = 10 * kNanosPerMilli;  // no holders until a share comes
            return true;
          }
          lease::Grant g = lease::TryAcquire(p.table, now);
          if (g.sealed) return false;
          *retry = g.retry_after_ns;
          if (g.ok) out = g.lease;
          ok = g.ok;
          return true;
        });
        return ok;
      },
      [&] { return Params().table; }, deadline, first.spec.reclaim, cancel, &scope);
  Count(s.ok(), 1, platform::NowNs());
  if (IsNever(s)) {
    return Status(Code::kInvalidArgument, "limiter '" + name() + "' has no lease holders (" +
                                              Params().spec.Describe() + ")");
  }
  if (!s.ok()) return s;
  return out;
}

StatusOr<Lease> Limiter::TryAcquireLeaseAt(int64_t now_ns) { return TryLease(now_ns, false); }

StatusOr<Lease> Limiter::TryLease(int64_t now_ns, bool real_time) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  lease::Table cached;
  bool fast = CachedTable(*cache_, slot_, now_ns, &cached);
  if (!fast && Params().spec.algorithm != Algorithm::kLease) {
    return Status(Code::kInvalidArgument, "limiter '" + name() + "' is not a lease limiter");
  }
  lease::Grant g;
  uint64_t holders = 0;
  bool resizing = false;
  // One try at `now`: on the handle's cached table when it is the published
  // one, else on the current parameters.
  auto try_at = [&] {
    if (fast) {
      g = lease::TryAcquire(cached, now_ns);
      holders = cached.len;
      if (!g.sealed) return;
    }
    resizing = !RetryOnSealed([&](const ActiveParams& p) {
      now_ns = std::max(now_ns, p.published_ns);  // dated no earlier (limiter.cc Decide)
      if (Lapse(p, now_ns)) return false;         // decide under the next stage
      g = lease::TryAcquire(p.table, now_ns);
      holders = p.spec.holders;
      return !g.sealed;
    });
  };
  // With the real clock, a denial that skipped entries freed after `now`
  // (this caller was delayed since it read the clock, while others kept
  // taking and releasing) is not an answer: they are free now. Try again at
  // a fresh clock (bounded: each round needs another delay to repeat).
  for (int tries = 1;; ++tries) {
    try_at();
    if (g.ok || resizing || !real_time || !g.freed_after_now || tries == 8) break;
    now_ns = platform::NowNs();
    fast = CachedTable(*cache_, slot_, now_ns, &cached);
  }
  if (resizing) return Status(Code::kTimeout, "lease table is being resized");
  Count(g.ok, 1, now_ns);
  if (g.ok) return g.lease;
  return AllHeld(holders);
}

Status Limiter::ReleaseLease(const Lease& lease) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  const int64_t now = platform::NowNs();
  lease::Table t;
  bool is_lease = CachedTable(*cache_, slot_, now, &t);
  if (!is_lease) {
    const ActiveParams p = Params();
    is_lease = p.spec.algorithm == Algorithm::kLease;
    t = p.table;
  }
  if (!is_lease || !lease::Release(t, lease, now)) {
    return Status(Code::kNotHeld, "lease " + std::to_string(lease.token) +
                                      " is not held (released, expired or reclaimed)");
  }
  return Status::OK();  // (Release woke the sleepers, if any)
}

Status Limiter::RenewLease(Lease* lease) { return RenewLeaseAt(lease, platform::NowNs()); }

Status Limiter::RenewLeaseAt(Lease* lease, int64_t now_ns) {
  assert(valid());
  if (cache_->read_only) return Status(Code::kPermission, "segment is mapped read-only");
  lease::Table t;
  bool is_lease = CachedTable(*cache_, slot_, now_ns, &t);
  if (!is_lease) {
    const ActiveParams p = Params();
    is_lease = p.spec.algorithm == Algorithm::kLease;
    t = p.table;
  }
  if (!is_lease || !lease::Renew(t, lease, now_ns)) {
    return Status(Code::kNotHeld, "lease " + std::to_string(lease->token) +
                                      " is not held (released, expired or reclaimed)");
  }
  return Status::OK();
}

}  // namespace sluice
