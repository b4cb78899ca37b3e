// Helpers for the multi-process stress tests: memory shared across fork
// (anonymous MAP_SHARED, mapped before the workers start), a grant log in
// it, and a runner that executes the same worker function as forked
// processes or as threads, under a watchdog deadline.
#ifndef SLUICE_TESTS_STRESS_STRESS_SUPPORT_H_
#define SLUICE_TESTS_STRESS_STRESS_SUPPORT_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "checker.h"
#include "sluice/limiter.h"

namespace sluice::stress {

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#else
constexpr bool kTsan = false;
#endif
// AddressSanitizer (SLUICE_ASAN): guarantees are checked, timing floors not.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// Anonymous MAP_SHARED memory (zero-filled), mapped in the constructor and
// so visible to every process forked afterwards. Aborts if mmap fails.
void* MapShared(size_t bytes);
void UnmapShared(void* p, size_t bytes);

// One T (atomics and plain data only) in memory shared across fork.
template <typename T>
class Shared {
 public:
  Shared() : p_(new (MapShared(sizeof(T))) T()) {}
  ~Shared() {
    p_->~T();
    UnmapShared(p_, sizeof(T));
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }

 private:
  T* p_;
};

// Append-only log of grants in shared memory. Append is lock-free (one
// fetch_add for the index); a record counts only once `committed` is set
// (release), so a worker killed mid-append leaves a record that is skipped.
// Thread-safe and process-safe.
class GrantLog {
 public:
  explicit GrantLog(size_t capacity);
  ~GrantLog();
  GrantLog(const GrantLog&) = delete;
  GrantLog& operator=(const GrantLog&) = delete;

  // Returns the record index, or -1 when the log is full (counted).
  int64_t Append(const Grant& g);
  // Sets a lease record's end (after release).
  void SetEnd(int64_t index, int64_t end);
  // The committed records. REQUIRES: the writers are done.
  std::vector<Grant> Committed() const;
  uint64_t overflowed() const;
  void Clear();

 private:
  struct Record {
    std::atomic<uint32_t> committed;
    int32_t worker;
    int64_t t;
    uint64_t permits;
    uint64_t token;
    int64_t seen;
    std::atomic<int64_t> end;
  };
  struct Head {
    std::atomic<uint64_t> next;
    std::atomic<uint64_t> overflow;
  };
  size_t capacity_;
  size_t bytes_;
  Head* head_;
  Record* records_;
};

enum class Mode { kProcesses, kThreads };
const char* ModeName(Mode m);

// Runs body(i), i in [0, n), as n forked processes (each _exit()s with the
// body's return value and never returns into gtest) or as n threads, and
// waits for all of them up to `timeout`. Returns "" when every worker
// returned 0 in time, else a description. Processes still running at the
// deadline are SIGKILLed and reported as hung; threads still running at
// the deadline abort the test binary (a thread cannot be killed).
std::string RunWorkers(Mode mode, int n, const std::function<int(int)>& body,
                       std::chrono::milliseconds timeout);

// Forks a child that runs fn() and _exit()s with its result.
pid_t ForkChild(const std::function<int()>& fn);
// Waits for `pid` until `deadline_ns` (CLOCK_MONOTONIC). Returns true and the
// raw wait status once it exited; false if it was still running.
bool WaitExit(pid_t pid, int64_t deadline_ns, int* status);

// Sleeps until CLOCK_MONOTONIC reaches t_ns.
void SleepUntilNs(int64_t t_ns);

// Small fast PRNG (splitmix64), one per worker.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t s_;
};

// Counters of the blocking acquires of a run, in shared memory.
struct BlockingCounters {
  std::atomic<uint64_t> grants{0};     // Acquire returned OK
  std::atomic<uint64_t> waited{0};     // ... with a grant time >= 20 us after the call began
  std::atomic<uint64_t> timeouts{0};   // kTimeout
  std::atomic<uint64_t> cancelled{0};  // kCancelled: a reservation or wait given back
  std::atomic<uint64_t> early{0};      // returned OK before its own grant time (a bug)
  std::atomic<uint64_t> errors{0};     // any other status (a bug)
};

// One blocking Limiter::Acquire as the stress workers make it: `timeout_ns`
// as Acquire takes it (< 0: forever), cancelled (CancelCheck) once the
// clock reaches `cancel_at_ns` (<= 0: no CancelCheck). On OK, *g gets the
// grant time the library reports (the time the guarantee counts it at: a
// reservation's future turn, a window's decision after its wait) and the
// clock read once the call returned. Counts the outcome in *c. Returns
// true when granted.
bool TimedAcquire(Limiter& lim, uint32_t n, int64_t timeout_ns, int64_t cancel_at_ns, Grant* g,
                  BlockingCounters* c);

// The same for AcquireLease: on OK, *g gets granted_ns, token, expiry (as
// `end`) and the clock read after the call returned; *out the lease.
bool TimedAcquireLease(Limiter& lim, int64_t timeout_ns, int64_t cancel_at_ns, Grant* g, Lease* out,
                       BlockingCounters* c);

// Length of one hammer run: $SLUICE_STRESS_SECONDS if set, else 20 s with
// SLUICE_LONG_TESTS, else `default_s`.
double StressSeconds(double default_s);
// Number of workers: $SLUICE_STRESS_PROCS if set, else 16 with
// SLUICE_LONG_TESTS, else `default_n`.
int StressWorkers(int default_n);

}  // namespace sluice::stress

#endif  // SLUICE_TESTS_STRESS_STRESS_SUPPORT_H_
