// Regression tests for core-library bugs that the stress suite found
// (hammer_test's strict checks, the header fuzzer). Fixed in b1565f4; these
// are their deterministic reproductions.
//
// The three stale-clock bugs have one shape: the library dated a grant with
// a clock read taken BEFORE the shared state it was decided on. A caller
// preempted between its clock read and its CAS (common with more processes
// than cores) got a grant whose reported time lay before grants it came
// after. Here the stale clock read is injected through the *At() entry
// points, which document that `now` may go backwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "checker.h"
#include "layout.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;

// window: Decision::now_ns of a grant counted against a newer window than
// its own (window.h invariant 2) lies in the older window, which may already
// be full: by the decision times, an aligned window holds more than `limit`.
// In real time the grant was counted in the newer window, so nothing was
// over-granted; but now_ns is documented as "the grant's time".
TEST(CoreBugs, WindowStaleNowGrantIsDatedInAFullWindow) {
  testing::ScopedNamespace ns("bug-window");
  Segment seg = ns.Open();
  StatusOr<Limiter> lim = seg.Define("w", LimiterSpec::Window(2, kSec));
  ASSERT_TRUE(lim.ok());
  const int64_t base = (MonotonicNowNs() / kSec + 10) * kSec;  // window start
  std::vector<Grant> log;
  auto take = [&](uint32_t n, int64_t t) {
    Decision d = lim->TryAcquireAt(n, t);
    if (d.granted) log.push_back(Grant{d.now_ns, n});
    return d.granted;
  };
  ASSERT_TRUE(take(2, base + 500 * kMs));   // window k is full
  ASSERT_TRUE(take(1, base + 1200 * kMs));  // window k+1: 1 of 2
  // A caller that read the clock at k + 900ms and was preempted until now:
  take(1, base + 900 * kMs);
  CheckResult r = CheckWindow(log, 2, kSec);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
}

// lease: Lease::granted_ns is the `now` passed in (read before the claim
// CAS), not a time after the claim. A caller that read the clock, was
// preempted while another holder took and released the lease, then claimed
// it, reports a granted_ns inside the previous holder's lease and carries a
// larger token than that holder although its granted_ns is earlier.
// hammer_test lease_tokens_h1 saw this ~10-100 times per second of real
// AcquireLease/ReleaseLease traffic (strict_violations).
TEST(CoreBugs, LeaseGrantedNsPrecedesPreviousHoldersRelease) {
  testing::ScopedNamespace ns("bug-lease");
  Segment seg = ns.Open();
  StatusOr<Limiter> lim = seg.Define("l", LimiterSpec::Lease(1, kSec, false));
  ASSERT_TRUE(lim.ok());
  const int64_t stale = MonotonicNowNs();                        // A reads the clock, is preempted
  StatusOr<Lease> b = lim->TryAcquireLeaseAt(MonotonicNowNs());  // B takes it
  ASSERT_TRUE(b.ok());
  const int64_t b_released = MonotonicNowNs();
  ASSERT_TRUE(lim->ReleaseLease(*b).ok());            // ... and gives it back
  StatusOr<Lease> a = lim->TryAcquireLeaseAt(stale);  // A resumes and claims
  // Either the stale claim is refused (the entry was not free at `stale`),
  // or it is dated no earlier than B's release and carries a larger token.
  if (!a.ok()) {
    EXPECT_EQ(a.status().code(), Code::kTimeout) << a.status().ToString();
    return;
  }
  EXPECT_GT(a->token, b->token);
  EXPECT_GE(a->granted_ns, b->granted_ns) << "A token " << a->token << " B token " << b->token;
  EXPECT_GE(a->granted_ns, b_released);
  std::vector<Grant> log = {Grant{b->granted_ns, 1, b_released, b->token},
                            Grant{a->granted_ns, 1, a->expires_ns, a->token}};
  EXPECT_EQ(CheckHolders(log, 1).violations, 0u);
  EXPECT_EQ(CheckTokenOrder(log).violations, 0u);
}

// lease, anonymous permits (TryAcquire(n) on a lease limiter): a released
// entry (expiry <= 0: after Release, or after a TryAcquire(n) that got
// only some of its n entries and put them back) is takeable at ANY `now`,
// however stale, because it no longer records when it became free. A
// caller whose clock read predates the entry's previous grant then gets a
// grant dated inside that grant: by Decision::now_ns + ttl, more than
// `holders` are held at once. hammer_test lease_permits saw it rarely
// (it needs a partial n-permit failure), the deterministic form is here.
TEST(CoreBugs, LeasePermitsStaleNowReusesAPutBackEntry) {
  testing::ScopedNamespace ns("bug-lease-n");
  Segment seg = ns.Open();
  const int64_t ttl = kSec;
  StatusOr<Limiter> lim = seg.Define("l", LimiterSpec::Lease(2, ttl, false));
  ASSERT_TRUE(lim.ok());
  const int64_t t0 = MonotonicNowNs();
  std::vector<Grant> log;
  auto take = [&](uint32_t n, int64_t t) {
    Decision d = lim->TryAcquireAt(n, t);
    if (d.granted) log.push_back(Grant{d.now_ns, n, d.now_ns + ttl});
    return d.granted;
  };
  ASSERT_TRUE(take(1, t0));                // entry 0: [t0, t0+1s)
  ASSERT_TRUE(take(1, t0 + 500 * kMs));    // entry 1: [t0+.5s, t0+1.5s)
  ASSERT_FALSE(take(2, t0 + 1200 * kMs));  // claims entry 0, fails entry 1, puts 0 back
  take(1, t0 + 300 * kMs);                 // a clock read from before the put-back
  CheckResult r = CheckHolders(log, 2);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
}

// segment: Header::arena_used (the arena bump pointer) is not validated on
// attach, and Mapping::Allocate returns arena_offset + arena_used without
// checking its alignment; WriteParams then dereferences the nullptr that
// ArenaAt returns for the misaligned offset: SIGSEGV in params.cc
// (hdr->hint.store) from Segment::Define. Found by segment_stress_test
// FuzzedHeaderFieldsNeverCrash (arena_used = 4097).
// Runs in a child process so the suite survives a crash.
TEST(CoreBugs, MisalignedArenaUsedCrashesDefine) {
  testing::ScopedNamespace ns("bug-arena");
  {
    Segment seg = ns.Open();
    ASSERT_TRUE(seg.Define("a", LimiterSpec::Gcra(1, kSec, 1)).ok());
  }
  const std::string path = Segment::PathFor(ns.ns());
  const int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct stat sb;
  ASSERT_EQ(fstat(fd, &sb), 0);
  void* p = mmap(nullptr, size_t(sb.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  reinterpret_cast<Header*>(p)->arena_used.store(4097);
  munmap(p, size_t(sb.st_size));
  close(fd);
  const pid_t pid = fork();
  if (pid == 0) {
    StatusOr<Segment> seg = Segment::Open(ns.ns());
    if (!seg.ok()) _exit(seg.status().code() == Code::kCorrupt ? 0 : 2);
    StatusOr<Limiter> l = seg->Define("b", LimiterSpec::Sliding(5, kSec));
    _exit(l.ok() || l.status().code() == Code::kCorrupt ? 0 : 3);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << (WIFSIGNALED(st) ? "child died of signal " + std::to_string(WTERMSIG(st))
                          : "child exit " + std::to_string(WEXITSTATUS(st)));
}

}  // namespace
}  // namespace sluice::stress
