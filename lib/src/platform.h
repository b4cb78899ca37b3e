// The OS boundary: clocks, sleeping, futexes and process liveness (Linux).
// Everything else in lib/ is portable C++ over these few calls.
#ifndef SLUICE_SRC_PLATFORM_H_
#define SLUICE_SRC_PLATFORM_H_

#include <time.h>

#include <atomic>
#include <cstdint>

#include "sluice/limiter.h"

namespace sluice::platform {

// CLOCK_MONOTONIC in ns (vDSO: no syscall). Inline: every decision reads it.
inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
// CLOCK_REALTIME in ns.
int64_t RealtimeNs();

// Sleeps until CLOCK_MONOTONIC reaches deadline_ns with
// clock_nanosleep(TIMER_ABSTIME), waking at least every 50 ms to poll
// `cancel`. Returns false if cancelled. Sleeps (this and FutexWait) run
// with the calling thread's timer slack at 1 ns, restored after.
bool SleepUntil(int64_t deadline_ns, const CancelCheck& cancel);

// Process-shared futex on a word in shared memory. Waits while *word ==
// expected, until woken or CLOCK_MONOTONIC deadline_ns (< 0: no deadline).
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns);
void FutexWakeAll(std::atomic<uint32_t>* word);

// This process's pid, cached (refreshed in fork children).
uint32_t Pid();
// Bumped in every fork child: process-local state copied by fork (a
// handle's unflushed counters) can tell it is a copy. Inline: read on
// every decision.
extern std::atomic<uint64_t> g_fork_generation;
inline uint64_t ForkGeneration() { return g_fork_generation.load(std::memory_order_relaxed); }
// False only when `pid` certainly does not exist (kill(pid, 0) == ESRCH).
bool ProcessMayBeAlive(uint32_t pid);
// Identity of this process's PID namespace (inode of /proc/self/ns/pid);
// 0 when unknown. Pids are only comparable within one namespace.
uint64_t PidNamespaceId();

}  // namespace sluice::platform

#endif  // SLUICE_SRC_PLATFORM_H_
