#include "stress_support.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "sluice/limiter.h"

namespace sluice::stress {

void* MapShared(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("stress: mmap");
    std::abort();
  }
  return p;
}

void UnmapShared(void* p, size_t bytes) { munmap(p, bytes); }

GrantLog::GrantLog(size_t capacity)
    : capacity_(capacity), bytes_(sizeof(Head) + 64 + capacity * sizeof(Record)) {
  char* base = static_cast<char*>(MapShared(bytes_));
  head_ = new (base) Head();
  records_ = reinterpret_cast<Record*>(base + 64);
  static_assert(sizeof(Head) <= 64);
  static_assert(std::atomic<int64_t>::is_always_lock_free);
  // Zero-filled memory is a valid "uncommitted" record; no construction of
  // every record needed (the atomics are lock-free, zero is their value).
}

GrantLog::~GrantLog() { UnmapShared(head_, bytes_); }

int64_t GrantLog::Append(const Grant& g) {
  const uint64_t i = head_->next.fetch_add(1, std::memory_order_relaxed);
  if (i >= capacity_) {
    head_->overflow.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  Record& r = records_[i];
  r.worker = g.worker;
  r.t = g.t;
  r.permits = g.permits;
  r.token = g.token;
  r.seen = g.seen;
  r.end.store(g.end, std::memory_order_relaxed);
  // release: the fields above are visible to whoever sees committed == 1.
  r.committed.store(1, std::memory_order_release);
  return static_cast<int64_t>(i);
}

void GrantLog::SetEnd(int64_t index, int64_t end) {
  if (index >= 0) records_[index].end.store(end, std::memory_order_relaxed);
}

std::vector<Grant> GrantLog::Committed() const {
  std::vector<Grant> out;
  const uint64_t n = std::min<uint64_t>(head_->next.load(std::memory_order_acquire), capacity_);
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const Record& r = records_[i];
    if (r.committed.load(std::memory_order_acquire) != 1) continue;
    Grant g;
    g.t = r.t;
    g.permits = r.permits;
    g.token = r.token;
    g.worker = r.worker;
    g.seen = r.seen;
    g.end = r.end.load(std::memory_order_relaxed);
    out.push_back(g);
  }
  return out;
}

uint64_t GrantLog::overflowed() const { return head_->overflow.load(std::memory_order_relaxed); }

void GrantLog::Clear() {
  const uint64_t n = std::min<uint64_t>(head_->next.load(std::memory_order_relaxed), capacity_);
  for (uint64_t i = 0; i < n; ++i) records_[i].committed.store(0, std::memory_order_relaxed);
  head_->next.store(0, std::memory_order_relaxed);
  head_->overflow.store(0, std::memory_order_relaxed);
}

const char* ModeName(Mode m) { return m == Mode::kProcesses ? "processes" : "threads"; }

pid_t ForkChild(const std::function<int()>& fn) {
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = fn();
    } catch (...) {
      rc = 98;
    }
    _exit(rc);  // never return into gtest, never run its atexit handlers
  }
  if (pid < 0) {
    std::perror("stress: fork");
    std::abort();
  }
  return pid;
}

bool WaitExit(pid_t pid, int64_t deadline_ns, int* status) {
  for (;;) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0) {
      *status = -1;
      return true;
    }
    if (MonotonicNowNs() >= deadline_ns) return false;
    timespec ts{0, 200 * 1000};
    nanosleep(&ts, nullptr);
  }
}

void SleepUntilNs(int64_t t_ns) {
  timespec ts{static_cast<time_t>(t_ns / 1000000000), static_cast<long>(t_ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

std::string RunWorkers(Mode mode, int n, const std::function<int(int)>& body,
                       std::chrono::milliseconds timeout) {
  const int64_t deadline =
      MonotonicNowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  std::string err;
  if (mode == Mode::kProcesses) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) pids.push_back(ForkChild([&body, i] { return body(i); }));
    for (int i = 0; i < n; ++i) {
      int st = 0;
      if (!WaitExit(pids[i], deadline, &st)) {
        err += "worker " + std::to_string(i) + " (pid " + std::to_string(pids[i]) +
               ") hung past the deadline; ";
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &st, 0);
        continue;
      }
      if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        err += "worker " + std::to_string(i) + " failed (wait status " + std::to_string(st) + "); ";
      }
    }
    return err;
  }
  struct State {
    std::atomic<int> done{0};
    std::vector<int> rc;
  };
  auto st = std::make_shared<State>();
  st->rc.assign(n, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([st, &body, i] {
      st->rc[i] = body(i);
      st->done.fetch_add(1, std::memory_order_release);
    });
  }
  while (st->done.load(std::memory_order_acquire) < n) {
    if (MonotonicNowNs() >= deadline) {
      std::fprintf(stderr, "stress: %d of %d worker threads hung past the deadline\n",
                   n - st->done.load(), n);
      std::abort();
    }
    timespec ts{0, 500 * 1000};
    nanosleep(&ts, nullptr);
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    if (st->rc[i] != 0)
      err += "worker " + std::to_string(i) + " returned " + std::to_string(st->rc[i]) + "; ";
  }
  return err;
}

namespace {

bool CancelAt(void* arg) { return MonotonicNowNs() >= *static_cast<const int64_t*>(arg); }

// Counts a finished blocking call; true when it granted.
bool Outcome(const Status& s, int64_t started, Grant* g, BlockingCounters* c) {
  if (s.ok()) {
    c->grants.fetch_add(1, std::memory_order_relaxed);
    if (g->t - started >= 20 * 1000) c->waited.fetch_add(1, std::memory_order_relaxed);
    if (g->seen < g->t) c->early.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (s.code() == Code::kTimeout) {
    c->timeouts.fetch_add(1, std::memory_order_relaxed);
  } else if (s.code() == Code::kCancelled) {
    c->cancelled.fetch_add(1, std::memory_order_relaxed);
  } else {
    c->errors.fetch_add(1, std::memory_order_relaxed);
  }
  return false;
}

}  // namespace

bool TimedAcquire(Limiter& lim, uint32_t n, int64_t timeout_ns, int64_t cancel_at_ns, Grant* g,
                  BlockingCounters* c) {
  CancelCheck cancel;
  if (cancel_at_ns > 0) cancel = CancelCheck{&CancelAt, &cancel_at_ns};
  const int64_t started = MonotonicNowNs();
  int64_t at = 0;
  const Status s = lim.Acquire(n, timeout_ns, cancel, &at);
  g->seen = MonotonicNowNs();
  g->t = at;
  g->permits = n;
  return Outcome(s, started, g, c);
}

bool TimedAcquireLease(Limiter& lim, int64_t timeout_ns, int64_t cancel_at_ns, Grant* g, Lease* out,
                       BlockingCounters* c) {
  CancelCheck cancel;
  if (cancel_at_ns > 0) cancel = CancelCheck{&CancelAt, &cancel_at_ns};
  const int64_t started = MonotonicNowNs();
  StatusOr<Lease> l = lim.AcquireLease(timeout_ns, cancel);
  g->seen = MonotonicNowNs();
  if (l.ok()) {
    *out = *l;
    g->t = l->granted_ns;
    g->token = l->token;
    g->end = l->expires_ns;
    g->permits = 1;
  }
  return Outcome(l.status(), started, g, c);
}

double StressSeconds(double default_s) {
  if (const char* e = std::getenv("SLUICE_STRESS_SECONDS"); e && *e) return std::atof(e);
#ifdef SLUICE_LONG_TESTS
  return 20;
#else
  return default_s;
#endif
}

int StressWorkers(int default_n) {
  if (const char* e = std::getenv("SLUICE_STRESS_PROCS"); e && *e) return std::atoi(e);
#ifdef SLUICE_LONG_TESTS
  return 16;
#else
  return default_n;
#endif
}

}  // namespace sluice::stress
