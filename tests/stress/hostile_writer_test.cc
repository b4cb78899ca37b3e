// A hostile process of the segment's own user (or of its group, with a
// group-writable mode) truncating the file under attached processes.
//
// What POSIX shared memory allows (docs/security.md, "Residual risks"):
// truncating a tmpfs file unmaps its pages beyond the new end from every
// mapping, and the next access there raises SIGBUS in the accessing
// process. A library cannot prevent that (file seals exist only for
// memfd_create files, which have no /dev/shm name; a SIGBUS handler in a
// library would take over a process-wide signal). So these tests pin down
// the boundary instead:
//   1. an attached process hit by a truncation dies of SIGBUS and of nothing
//      else: no SIGSEGV, no abort, no hang, no out-of-bounds read (ASan);
//   2. a segment truncated and grown back (zero pages) is treated as
//      corrupt by attached handles and by new attachers: no crash;
//   3. another user cannot truncate an owner-only (0600) or group-read-only
//      (0640) segment at all: the mode is the boundary.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "sluice/admin/inspect.h"
#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;

constexpr uid_t kNobody = 65534;
constexpr int kSkip = 77;

// Result of a forked child: its exit status, 128+N for signal N, -1 if it
// had to be killed after `timeout` (a hang).
int Reap(pid_t pid, std::chrono::milliseconds timeout) {
  int st = 0;
  bool done = false;
  testing::WaitFor([&] { return done || (done = waitpid(pid, &st, WNOHANG) == pid); }, timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Forks a child running `fn` with the default SIGBUS disposition (so that a
// sanitizer's handler does not turn the signal into an exit status).
template <typename Fn>
pid_t Spawn(Fn fn) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGBUS, SIG_DFL);
    _exit(fn());
  }
  return pid;
}

void DefineAll(Segment& seg) {
  ASSERT_TRUE(seg.Define("gcra", LimiterSpec::Gcra(1000, kNanosPerSecond, 10)).ok());
  ASSERT_TRUE(seg.Define("window", LimiterSpec::Window(100, 10 * kNanosPerMilli)).ok());
  ASSERT_TRUE(seg.Define("sliding", LimiterSpec::Sliding(50, 10 * kNanosPerMilli)).ok());
  ASSERT_TRUE(seg.Define("lease", LimiterSpec::Lease(2, 5 * kNanosPerMilli, true)).ok());
}

// Decides on every limiter of `seg` until `deadline`; touches every page a
// worker touches (slots, statistics, rings, holder entries, the header).
void DecideUntil(Segment& seg, int64_t deadline) {
  std::vector<Limiter> all = seg.List();
  while (MonotonicNowNs() < deadline) {
    for (Limiter& l : all) {
      (void)l.TryAcquire(1);
      (void)l.level();
      if (l.spec().algorithm == Algorithm::kLease) {
        StatusOr<Lease> lease = l.AcquireLease(0);
        if (lease.ok()) (void)l.ReleaseLease(*lease);
      }
    }
    (void)seg.Find("sliding");
    (void)seg.Info();
  }
}

TEST(HostileWriterTest, TruncationUnderDecidingProcessesRaisesOnlySigbus) {
  ScopedNamespace ns("hostile-trunc");
  Segment seg = ns.Open();
  DefineAll(seg);
  const std::string path = Segment::PathFor(ns.ns());

  // Deciders attach themselves (as workers do) and signal readiness.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const int64_t stop = MonotonicNowNs() + 3 * kNanosPerSecond;
  std::vector<pid_t> deciders;
  for (int i = 0; i < 4; ++i) {
    deciders.push_back(Spawn([&] {
      StatusOr<Segment> s = Segment::Open(ns.ns());
      if (!s.ok()) return 2;
      (void)!write(ready[1], "r", 1);
      DecideUntil(*s, stop);
      return 0;
    }));
  }
  for (size_t i = 0; i < deciders.size(); ++i) {
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
  }
  close(ready[0]);
  close(ready[1]);
  // The hostile writer: the same user, an ordinary open + ftruncate.
  const pid_t hostile = Spawn([&] {
    const int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) return 2;
    usleep(20 * 1000);
    const int rc = ftruncate(fd, 4096);  // keeps the header, drops slots + arena
    close(fd);
    return rc == 0 ? 0 : 3;
  });
  ASSERT_EQ(Reap(hostile, std::chrono::seconds(10)), 0);

  int sigbus = 0;
  for (pid_t pid : deciders) {
    const int rc = Reap(pid, std::chrono::seconds(10));
    EXPECT_TRUE(rc == 0 || rc == 128 + SIGBUS)
        << "decider ended with " << rc << " (-1: hung; 128+N: signal N)";
    sigbus += rc == 128 + SIGBUS;
  }
  std::printf("[stress] hostile truncation: %d of %zu attached deciders died of SIGBUS\n", sigbus,
              deciders.size());
  // Nobody attaches the damaged segment: a clear error, no crash.
  const Status s = Segment::Open(ns.ns()).status();
  EXPECT_EQ(s.code(), Code::kCorrupt) << s.ToString();
  EXPECT_EQ(Inspector::Open(ns.ns()).status().code(), Code::kCorrupt);
  // The owner's repair: remove and apply again (sluicectl rm + apply).
  EXPECT_TRUE(Segment::Remove(ns.ns()).ok());
}

TEST(HostileWriterTest, TruncatedAndRegrownSegmentIsCorruptNotACrash) {
  ScopedNamespace ns("hostile-regrow");
  Segment seg = ns.Open();
  DefineAll(seg);
  const std::string path = Segment::PathFor(ns.ns());
  const off_t size = static_cast<off_t>(seg.Info().total_bytes);
  // In a child, so that a crash fails this test and not the whole binary.
  const pid_t child = Spawn([&] {
    StatusOr<Segment> s = Segment::Open(ns.ns());
    if (!s.ok()) return 2;
    std::vector<Limiter> all = s->List();
    for (Limiter& l : all) (void)l.TryAcquire(1);  // handles cache the params
    const int fd = open(path.c_str(), O_RDWR);
    if (fd < 0 || ftruncate(fd, 0) != 0 || ftruncate(fd, size) != 0) return 3;
    close(fd);
    // Every page now reads as zero: magic, params offsets, rings, holders.
    DecideUntil(*s, MonotonicNowNs() + 100 * kNanosPerMilli);
    for (const char* name : {"gcra", "sliding", "lease", "new"}) {
      (void)s->Find(name);
      (void)s->Define(name, LimiterSpec::Sliding(3, kNanosPerMilli));
    }
    if (Segment::Open(ns.ns()).ok()) return 4;
    if (Inspector::Open(ns.ns()).ok()) return 5;
    return 0;
  });
  EXPECT_EQ(Reap(child, std::chrono::seconds(30)), 0)
      << "-1: hung; 2-5: see the test; 128+N: killed by signal N";
}

// The mode is the boundary: another user cannot open an owner-only or
// group-read-only segment for writing, so cannot truncate it either.
TEST(HostileWriterTest, AnotherUserCannotTruncate) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to act as uid 65534 (setresuid)";
  for (uint32_t mode : {0600u, 0640u, 0644u}) {
    ScopedNamespace ns("hostile-other");
    OpenOptions o;
    o.mode = mode;
    o.group = kNobody;
    Segment seg = ns.Open(o);
    DefineAll(seg);
    const std::string path = Segment::PathFor(ns.ns());
    const pid_t child = Spawn([&] {
      if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) != 0 ||
          setresuid(kNobody, kNobody, kNobody) != 0) {
        return kSkip;
      }
      if (open(path.c_str(), O_RDWR) >= 0) return 1;
      if (truncate(path.c_str(), 0) == 0) return 2;
      return 0;
    });
    const int rc = Reap(child, std::chrono::seconds(10));
    if (rc == kSkip) GTEST_SKIP() << "cannot switch to uid 65534 here";
    EXPECT_EQ(rc, 0) << "mode " << std::oct << mode;
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), seg.Info().total_bytes);
  }
}

}  // namespace
}  // namespace sluice
