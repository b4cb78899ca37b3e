// Who may open a segment, tested as another user (docs/security.md). Runs
// as root, which drops to uid 65534 in a forked child (the C++ form of
// `setpriv --reuid=nobody --regid=nogroup --clear-groups`), with or without a
// supplementary group; skipped, never failed, when not root.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "sluice/admin/inspect.h"
#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;

constexpr uid_t kNobody = 65534;  // nobody / nogroup on Debian
constexpr gid_t kTeam = 4242;     // a group of workers (needs no /etc/group entry)
constexpr int kSkip = 77;

// Runs `fn` in a child as uid/gid 65534 with `supplementary` (or no other)
// groups. Returns its exit status, 128+N for signal N, -1 for a hang.
int AsNobody(const std::function<int()>& fn, gid_t supplementary = gid_t(-1)) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const bool with = supplementary != gid_t(-1);
    if (setgroups(with ? 1 : 0, with ? &supplementary : nullptr) != 0 ||
        setresgid(kNobody, kNobody, kNobody) != 0 || setresuid(kNobody, kNobody, kNobody) != 0) {
      _exit(kSkip);
    }
    _exit(fn());
  }
  int st = 0;
  bool done = false;
  testing::WaitFor([&] { return done || (done = waitpid(pid, &st, WNOHANG) == pid); },
                   std::chrono::seconds(20));
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int Fails(int code, const Status& s) {
  std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
  return code;
}

class PermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to act as uid 65534 (setresuid)";
  }
  // A root-owned segment with one limiter, `mode`, group `group`.
  Segment Make(const ScopedNamespace& ns, uint32_t mode, gid_t group) {
    OpenOptions o;
    o.mode = mode;
    o.group = group;
    Segment seg = ns.Open(o);
    EXPECT_TRUE(seg.Define("api", LimiterSpec::Gcra(1000, kNanosPerSecond, 10)).ok());
    struct stat st;
    EXPECT_EQ(stat(Segment::PathFor(ns.ns()).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, mode);
    EXPECT_EQ(st.st_gid, group);
    return seg;
  }
  void Check(int rc) {
    if (rc == kSkip) GTEST_SKIP() << "cannot switch to uid 65534 here";
    EXPECT_EQ(rc, 0) << "-1: hung; 128+N: signal N; else the child's failed check";
  }
};

// Opening a segment the caller may not use: kPermission, for every way in.
int ExpectNoAccess(const std::string& ns) {
  const Code rw = Segment::Open(ns).status().code();
  const Code ro = Segment::Open(ns, OpenOptions{.read_only = true}).status().code();
  const Code create = Segment::Open(ns, OpenOptions{.create = true}).status().code();
  const Code inspect = Inspector::Open(ns).status().code();
  if (rw != Code::kPermission) return 1;
  if (ro != Code::kPermission) return 2;
  if (create != Code::kPermission) return 3;
  if (inspect != Code::kPermission) return 4;
  return 0;
}

TEST_F(PermissionsTest, OwnerOnlySegmentIsClosedToOtherUsers) {
  ScopedNamespace ns("perm-0600");
  Make(ns, 0600, 0);
  Check(AsNobody([&] { return ExpectNoAccess(ns.ns()); }));
  // Even a member of the segment's group: 0600 has no group bits.
  Check(AsNobody([&] { return ExpectNoAccess(ns.ns()); }, 0));
}

TEST_F(PermissionsTest, GroupModeWorksForASupplementaryMember) {
  ScopedNamespace ns("perm-0660");
  Segment seg = Make(ns, 0660, kTeam);
  Check(AsNobody(
      [&] {
        StatusOr<Segment> s = Segment::Open(ns.ns());
        if (!s.ok()) return Fails(1, s.status());
        StatusOr<Limiter> api = s->Find("api");
        if (!api.ok()) return Fails(2, api.status());
        if (!api->TryAcquire(1).granted) return 3;
        if (!s->Define("team-made", LimiterSpec::Window(5, kNanosPerSecond)).ok()) return 4;
        StatusOr<Inspector> in = Inspector::Open(ns.ns());
        if (!in.ok() || in->Take().Find("api") == nullptr) return 5;
        // Using is not owning: create (an admin's open) stays the owner's.
        if (Segment::Open(ns.ns(), OpenOptions{.create = true}).status().code() !=
            Code::kPermission) {
          return 6;
        }
        return 0;
      },
      kTeam));
  EXPECT_TRUE(seg.Find("team-made").ok());
  // Not a member: nothing.
  Check(AsNobody([&] { return ExpectNoAccess(ns.ns()); }));
}

TEST_F(PermissionsTest, GroupReadOnlyModeAllowsInspectionOnly) {
  ScopedNamespace ns("perm-0640");
  Segment seg = Make(ns, 0640, kTeam);
  Check(AsNobody(
      [&] {
        if (Segment::Open(ns.ns()).status().code() != Code::kPermission) return 1;
        StatusOr<Segment> ro = Segment::Open(ns.ns(), OpenOptions{.read_only = true});
        if (!ro.ok()) return Fails(2, ro.status());
        StatusOr<Limiter> api = ro->Find("api");
        if (!api.ok()) return Fails(3, api.status());
        if (api->TryAcquire(1).denial != Denial::kReadOnly) return 4;
        if (ro->Define("x", LimiterSpec::Window(5, kNanosPerSecond)).ok()) return 5;
        StatusOr<Inspector> in = Inspector::Open(ns.ns());
        if (!in.ok()) return Fails(6, in.status());
        const Snapshot snap = in->Take();
        if (snap.rows.size() != 1 || snap.Find("api") == nullptr) return 7;
        return 0;
      },
      kTeam));
  Check(AsNobody([&] { return ExpectNoAccess(ns.ns()); }));
  EXPECT_EQ(seg.List().size(), 1u);
}

}  // namespace
}  // namespace sluice
