#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "platform.h"
#include "sluice/duration.h"

namespace sluice::platform {

std::atomic<uint64_t> g_fork_generation{0};

namespace {

std::atomic<uint32_t> g_pid{0};
std::atomic<uint64_t> g_pidns{0};

void RefreshPid() {
  g_pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  struct stat st;
  g_pidns.store(stat("/proc/self/ns/pid", &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0,
                std::memory_order_relaxed);
}

void InChild() {
  RefreshPid();
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

struct PidInit {
  PidInit() {
    RefreshPid();
    pthread_atfork(nullptr, nullptr, InChild);
  }
} g_pid_init;

timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / kNanosPerSecond;
  ts.tv_nsec = ns % kNanosPerSecond;
  return ts;
}

constexpr int64_t kCancelPollNs = 50 * kNanosPerMilli;

// The smallest timer slack for one sleep. The kernel may fire a sleeping
// thread's timer up to its slack late (default 50 us) to batch wake-ups;
// for a limiter that is lateness on every blocking acquire. Slack is per
// thread (prctl PR_SET_TIMERSLACK), so setting 1 ns around the sleep and
// restoring the thread's own value after touches nothing else of the
// caller's: its other threads keep theirs, and so does this one outside
// the sleep. (A value of 0 would mean "reset to the default", so 1 is the
// smallest; realtime threads have no slack and are left alone.) Two
// syscalls per sleep, next to a sleep of microseconds or more.
class ScopedMinimalSlack {
 public:
  ScopedMinimalSlack() : old_(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) {
    if (old_ > 1) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  }
  ~ScopedMinimalSlack() {
    if (old_ > 1) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_), 0, 0, 0);
  }
  ScopedMinimalSlack(const ScopedMinimalSlack&) = delete;
  ScopedMinimalSlack& operator=(const ScopedMinimalSlack&) = delete;

 private:
  long old_;  // the thread's slack; < 0: unknown (left alone)
};

}  // namespace

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

bool SleepUntil(int64_t deadline_ns, const CancelCheck& cancel) {
  for (;;) {
    if (cancel.fn && cancel.fn(cancel.arg)) return false;
    const int64_t now = NowNs();
    if (now >= deadline_ns) return true;
    int64_t until = deadline_ns;
    if (cancel.fn) until = std::min(until, now + kCancelPollNs);
    timespec ts = ToTimespec(until);
    ScopedMinimalSlack slack;
    // EINTR: loop, re-checking cancel (a signal handler may have set it).
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
}

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns) {
  timespec ts;
  timespec* tp = nullptr;
  if (deadline_ns >= 0) {
    ts = ToTimespec(deadline_ns);
    tp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (its
  // timer has the thread's slack too). Not FUTEX_PRIVATE_FLAG: the word is
  // shared between processes.
  ScopedMinimalSlack slack;
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET, expected, tp, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

uint32_t Pid() { return g_pid.load(std::memory_order_relaxed); }

uint64_t PidNamespaceId() { return g_pidns.load(std::memory_order_relaxed); }

bool ProcessMayBeAlive(uint32_t pid) {
  if (pid == 0) return true;
  return !(kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH);
}

}  // namespace sluice::platform
