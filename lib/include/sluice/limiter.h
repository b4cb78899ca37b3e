// Limiter: a handle on one named limiter slot of a Segment.
//
// TryAcquire is the hot path: one CLOCK_MONOTONIC read and one CAS on the
// limiter's own cache line; no syscall, lock, allocation or name lookup.
#ifndef SLUICE_LIMITER_H_
#define SLUICE_LIMITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "sluice/export.h"
#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice {

class Mapping;
struct SlotLayout;
struct HandleCache;
struct ActiveParams;

// Why a decision came out as it did.
enum class Denial : uint8_t {
  kNone = 0,      // granted
  kBusy = 1,      // not now: retry_after_ns says when it could be granted
  kNever = 2,     // more permits than the limiter's capacity (retry_after_ns -1)
  kReadOnly = 3,  // the handle's segment is mapped read-only (retry_after_ns -1)
};

// Outcome of a non-blocking decision. A plain, trivially copyable value of
// 24 bytes (denial sits in granted's padding).
struct Decision {
  Decision() = default;
  // The algorithms' form: the denial follows from the other fields (kNone
  // when granted, kNever when retry_after_ns < 0, else kBusy).
  constexpr Decision(bool g, int64_t now, int64_t retry)
      : granted(g),
        denial(g ? Denial::kNone : (retry < 0 ? Denial::kNever : Denial::kBusy)),
        now_ns(now),
        retry_after_ns(retry) {}
  constexpr Decision(bool g, int64_t now, int64_t retry, Denial why)
      : granted(g), denial(why), now_ns(now), retry_after_ns(retry) {}

  bool granted = false;
  Denial denial = Denial::kNone;
  // The CLOCK_MONOTONIC time the decision was taken at (the grant's time).
  int64_t now_ns = 0;
  // When denied: how long until the request could be granted (0 when granted;
  // -1 when it never can: see `denial` for why).
  int64_t retry_after_ns = 0;
};
static_assert(std::is_trivially_copyable_v<Decision> && sizeof(Decision) == 24);

// A held lease. Plain value; pass it back to Release/Renew.
struct Lease {
  uint64_t token = 0;      // fencing token, strictly increasing per limiter
  int64_t granted_ns = 0;  // CLOCK_MONOTONIC time of the grant
  int64_t expires_ns = 0;  // lapses at this time unless renewed
  uint32_t index = 0;      // holder entry
};

// Counters other processes can read. Each handle counts in process memory
// and flushes in batches, never on every call: after 64 decisions, on the
// first decision 1 ms after the last flush, on FlushStats() and when the
// last copy of the handle is destroyed. A process that dies (or _exit()s)
// loses its unflushed batch; a fork child never re-counts its parent's.
struct LimiterStats {
  uint64_t granted = 0;  // permits granted
  uint64_t denied = 0;   // permits denied
  uint64_t asked = 0;    // permits asked for
  uint64_t waits = 0;    // blocking acquires that had to sleep
  uint64_t wait_ns = 0;  // total time slept in blocking acquires
  int64_t waiting = 0;   // callers blocked right now (approximate)
  double demand = 0;     // permits asked per second (recent estimate)
};

// Current occupancy, decoded from the limiter's state.
struct LimiterLevel {
  double used = 0;           // tokens spent (gcra), count (window), grants in the
                             // last window (sliding), holders (lease)
  double capacity = 0;       // burst, limit or holders
  int64_t next_free_ns = 0;  // time until one more permit frees (0 if free)
};

// Optional cancellation for blocking calls: polled at least every 50 ms.
struct CancelCheck {
  bool (*fn)(void* arg) = nullptr;  // returns true to abort
  void* arg = nullptr;
};

// Handle on a limiter. Thread-safe; cheap to copy (copies share the mapping).
class SLUICE_EXPORT Limiter {
 public:
  Limiter() = default;

  // Grants `permits` now or denies. REQUIRES: permits >= 1.
  Decision TryAcquire(uint32_t permits = 1);
  // The same with injected time (tests, simulations). `now_ns` may go
  // backwards; the limiter never grants more than its guarantee allows.
  Decision TryAcquireAt(uint32_t permits, int64_t now_ns);

  // Blocks until granted, sleeping (never spinning). gcra and sliding reserve
  // a turn and sleep until it; a turn later than the timeout is not taken.
  // timeout_ns < 0 waits forever. Returns OK, kTimeout, kCancelled or
  // kInvalidArgument (permits above capacity). *granted_ns (if given) gets
  // the grant's time: the time the guarantee counts it at. The call returns
  // a little after it (wake-up latency): see docs/design.md, "Grant time".
  Status Acquire(uint32_t permits, int64_t timeout_ns, CancelCheck cancel = {},
                 int64_t* granted_ns = nullptr);

  // Lease limiters only.
  StatusOr<Lease> AcquireLease(int64_t timeout_ns, CancelCheck cancel = {});
  StatusOr<Lease> TryAcquireLeaseAt(int64_t now_ns);
  // Gives the lease back early and wakes waiters. kNotHeld if it already
  // expired, was released, or was reclaimed.
  Status ReleaseLease(const Lease& lease);
  // Extends the lease to now + ttl. kNotHeld as above.
  Status RenewLease(Lease* lease);
  Status RenewLeaseAt(Lease* lease, int64_t now_ns);

  // Flushes this handle's batched counters into shared memory.
  void FlushStats();

  std::string name() const;
  // Current parameters (changed live by Segment::Define).
  LimiterSpec spec() const;
  LimiterStats stats() const;
  LimiterLevel level() const;
  LimiterLevel LevelAt(int64_t now_ns) const;
  bool valid() const { return slot_ != nullptr; }

 private:
  friend class Segment;
  friend struct LimiterInternals;  // internal: tests of the handle cache
  // Validates slot `index` and its parameters; caches them in the handle.
  static StatusOr<Limiter> Attach(std::shared_ptr<Mapping> m, uint32_t index);
  // REQUIRES: valid().
  ActiveParams Params() const;  // current params (reloads on change)
  ActiveParams Reload() const;
  // A global limiter's share or fallback that ended by `now`: applies the
  // next stage (slots::Lapse). True when the caller should decide again.
  bool Lapse(const ActiveParams& p, int64_t now) const;
  void Count(bool granted, uint32_t permits, int64_t now) const;
  Decision Decide(uint32_t permits, int64_t now) const;  // uncounted
  // One lease try at `now` (real_time: `now` is the clock, which may be
  // read again).
  StatusOr<Lease> TryLease(int64_t now_ns, bool real_time);
  // The one "decide with the current parameters" loop: calls try_once(p),
  // which returns false when it met a ring sealed by a resize or a stale
  // record, reloading between tries; after kSealedRetries it repairs a
  // change an updater left half done and returns false (the caller denies
  // and looks again ~1 ms later). Defined in handle_cache.h.
  template <typename Fn>
  bool RetryOnSealed(Fn&& try_once) const;
  Decision DecideAndCount(uint32_t permits, int64_t now) const;

  std::shared_ptr<Mapping> m_;
  SlotLayout* slot_ = nullptr;
  uint32_t index_ = 0;
  std::shared_ptr<HandleCache> cache_;  // validated params + local counters
};

// CLOCK_MONOTONIC in nanoseconds: the clock every decision uses.
SLUICE_EXPORT int64_t MonotonicNowNs();

}  // namespace sluice

#endif  // SLUICE_LIMITER_H_
