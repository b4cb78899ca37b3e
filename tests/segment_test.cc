#include "sluice/segment.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>

#include "layout.h"
#include "platform.h"
#include <sys/wait.h>
#include "sluice/duration.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;

TEST(SegmentTest, CreateDefineFind) {
  ScopedNamespace ns("seg");
  Segment seg = ns.Open();
  StatusOr<Limiter> a = seg.Define("partner-api", LimiterSpec::Gcra(100, kNanosPerSecond, 10));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  StatusOr<Limiter> f = seg.Find("partner-api");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->spec(), LimiterSpec::Gcra(100, kNanosPerSecond, 10));
  EXPECT_EQ(f->name(), "partner-api");
  StatusOr<Limiter> missing = seg.Find("nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  // A second process-level attach sees the same limiter.
  StatusOr<Segment> other = Segment::Open(ns.ns());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->Find("partner-api").ok());
  EXPECT_EQ(other->Info().used_slots, 1u);
}

TEST(SegmentTest, OpenMissingNamespaceIsNotFound) {
  ScopedNamespace ns("missing");
  StatusOr<Segment> s = Segment::Open(ns.ns());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kNotFound);
}

TEST(SegmentTest, RejectsBadNamesAndOptions) {
  OpenOptions o;
  o.create = true;
  EXPECT_EQ(Segment::Open("a/b", o).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Segment::Open("", o).status().code(), Code::kInvalidArgument);
  ScopedNamespace ns("opts");
  o.capacity = 0;
  EXPECT_EQ(Segment::Open(ns.ns(), o).status().code(), Code::kInvalidArgument);
  o.capacity = 4;
  o.mode = 01777;
  EXPECT_EQ(Segment::Open(ns.ns(), o).status().code(), Code::kInvalidArgument);
}

TEST(SegmentTest, SameDefinitionIsNoOpOtherAlgorithmIsError) {
  ScopedNamespace ns("redef");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("x", LimiterSpec::Sliding(5, 800 * kNanosPerMilli)).ok());
  const uint64_t used = seg.Info().arena_used;
  ASSERT_TRUE(seg.Define("x", LimiterSpec::Sliding(5, 800 * kNanosPerMilli)).ok());
  EXPECT_EQ(seg.Info().arena_used, used);
  StatusOr<Limiter> other = seg.Define("x", LimiterSpec::Gcra(1, kNanosPerSecond, 1));
  EXPECT_EQ(other.status().code(), Code::kExists);
}

TEST(SegmentTest, FullSlotsAndFullArena) {
  ScopedNamespace ns("full");
  OpenOptions o;
  o.capacity = 2;
  o.arena_bytes = 4096;
  Segment seg = ns.Open(o);
  ASSERT_TRUE(seg.Define("a", LimiterSpec::Gcra(1, kNanosPerSecond, 1)).ok());
  StatusOr<Limiter> big = seg.Define("b", LimiterSpec::Sliding(100000, kNanosPerSecond));
  EXPECT_EQ(big.status().code(), Code::kFull);
  // The failed define left its slot reusable.
  ASSERT_TRUE(seg.Define("c", LimiterSpec::Gcra(1, kNanosPerSecond, 1)).ok());
  EXPECT_EQ(seg.Define("d", LimiterSpec::Gcra(1, kNanosPerSecond, 1)).status().code(), Code::kFull);
}

TEST(SegmentTest, RejectsBadLimiterNamesAndSpecs) {
  ScopedNamespace ns("badlim");
  Segment seg = ns.Open();
  EXPECT_EQ(seg.Define(std::string(64, 'n'), LimiterSpec::Gcra(1, kNanosPerSecond, 1)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(seg.Define("z", LimiterSpec::Gcra(0, kNanosPerSecond, 1)).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(seg.Define("z", LimiterSpec::Sliding(5, 10)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(seg.Info().used_slots, 0u);
}

TEST(SegmentTest, PermissionsDefaultAndConfigured) {
  ScopedNamespace a("perm0");
  a.Open();
  struct stat st;
  ASSERT_EQ(stat(Segment::PathFor(a.ns()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ScopedNamespace b("perm1");
  OpenOptions o;
  o.mode = 0660;
  o.group = getgid();
  b.Open(o);
  ASSERT_EQ(stat(Segment::PathFor(b.ns()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, getgid());
}

TEST(SegmentTest, RetireHidesAndRedefineRevivesWithState) {
  ScopedNamespace ns("retire");
  Segment seg = ns.Open();
  StatusOr<Limiter> l = seg.Define("r", LimiterSpec::Sliding(2, 10 * kNanosPerSecond));
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->TryAcquire(2).granted);
  ASSERT_TRUE(seg.Retire("r").ok());
  EXPECT_EQ(seg.Find("r").status().code(), Code::kNotFound);
  EXPECT_TRUE(seg.List().empty());
  StatusOr<Limiter> back = seg.Define("r", LimiterSpec::Sliding(2, 10 * kNanosPerSecond));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->TryAcquire(1).granted);  // state kept: still used up
}

TEST(SegmentTest, ReadOnlyMappingInspectsButCannotChange) {
  ScopedNamespace ns("ro");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("q", LimiterSpec::Window(3, kNanosPerSecond)).ok());
  OpenOptions o;
  o.read_only = true;
  StatusOr<Segment> ro = Segment::Open(ns.ns(), o);
  ASSERT_TRUE(ro.ok());
  StatusOr<Limiter> q = ro->Find("q");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->spec().limit, 3u);
  EXPECT_FALSE(q->TryAcquire(1).granted);
  EXPECT_EQ(ro->Define("w", LimiterSpec::Window(3, kNanosPerSecond)).status().code(), Code::kPermission);
}

TEST(SegmentTest, RemoveKeepsAttachedMappingsWorking) {
  ScopedNamespace ns("rm");
  Segment seg = ns.Open();
  StatusOr<Limiter> l = seg.Define("k", LimiterSpec::Sliding(1, 10 * kNanosPerSecond));
  ASSERT_TRUE(Segment::Remove(ns.ns()).ok());
  EXPECT_EQ(Segment::Remove(ns.ns()).code(), Code::kNotFound);
  EXPECT_TRUE(l->TryAcquire(1).granted);
  EXPECT_FALSE(l->TryAcquire(1).granted);
  EXPECT_EQ(Segment::Open(ns.ns()).status().code(), Code::kNotFound);
}

// ---- attach validation: every malformed file gives a clear error ----

class CorruptSegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenOptions o;
    o.capacity = 4;
    o.arena_bytes = 8192;
    seg_.emplace(ns_.Open(o));
    ASSERT_TRUE(seg_->Define("s", LimiterSpec::Sliding(4, kNanosPerSecond)).ok());
    seg_.reset();
    fd_ = open(Segment::PathFor(ns_.ns()).c_str(), O_RDWR);
    ASSERT_GE(fd_, 0);
    struct stat st;
    fstat(fd_, &st);
    size_ = st.st_size;
    base_ = static_cast<char*>(mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
  }
  void TearDown() override {
    munmap(base_, size_);
    close(fd_);
  }
  Header* header() { return reinterpret_cast<Header*>(base_); }
  SlotLayout* slot0() { return reinterpret_cast<SlotLayout*>(base_ + kHeaderSize); }
  Code OpenCode() { return Segment::Open(ns_.ns()).status().code(); }
  Code FindCode() {
    StatusOr<Segment> s = Segment::Open(ns_.ns());
    if (!s.ok()) return s.status().code();
    return s->Find("s").status().code();
  }

  ScopedNamespace ns_{"corrupt"};
  std::optional<Segment> seg_;
  int fd_ = -1;
  size_t size_ = 0;
  char* base_ = nullptr;
};

TEST_F(CorruptSegmentTest, Intact) { EXPECT_EQ(FindCode(), Code::kOk); }

TEST_F(CorruptSegmentTest, ForeignMagic) {
  header()->magic.store(0x1234);
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, OtherVersion) {
  header()->layout_version = 99;
  StatusOr<Segment> s = Segment::Open(ns_.ns());
  EXPECT_EQ(s.status().code(), Code::kVersion);
  EXPECT_NE(s.status().message().find("version 99"), std::string::npos);
}

TEST_F(CorruptSegmentTest, Truncated) {
  ASSERT_EQ(ftruncate(fd_, 100), 0);
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, TruncatedBelowHeaderSize) {
  ASSERT_EQ(ftruncate(fd_, kHeaderSize + 64), 0);
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, InconsistentSizes) {
  header()->capacity = 1000000;
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, ArenaOffsetLies) {
  header()->arena_offset += 64;
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, ParamsOffsetOutsideArena) {
  slot0()->params_off.store(size_ + 4096);
  EXPECT_EQ(FindCode(), Code::kCorrupt);
  slot0()->params_off.store(7);  // inside the header, misaligned
  EXPECT_EQ(FindCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, RingLengthLies) {
  auto* rec = reinterpret_cast<ParamsRecord*>(base_ + slot0()->params_off.load());
  rec->ring_len = 1u << 30;
  rec->limit = 1u << 20;  // still a "valid" limit, but the ring would overflow the file
  EXPECT_EQ(FindCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, ParamsFailValidation) {
  auto* rec = reinterpret_cast<ParamsRecord*>(base_ + slot0()->params_off.load());
  rec->window_ns = 0;
  EXPECT_EQ(FindCode(), Code::kCorrupt);
  rec->window_ns = kNanosPerSecond;
  rec->algorithm = 77;
  EXPECT_EQ(FindCode(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, BadSlotStatusOnDefine) {
  slot0()->status.store(0x55);
  StatusOr<Segment> s = Segment::Open(ns_.ns());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Define("t", LimiterSpec::Gcra(1, kNanosPerSecond, 1)).status().code(), Code::kCorrupt);
}

TEST_F(CorruptSegmentTest, NeverInitialisedIsErrorWithoutCreateAndRepairedWithCreate) {
  // What a creator killed before publishing magic leaves behind.
  header()->magic.store(0);
  EXPECT_EQ(OpenCode(), Code::kCorrupt);
  OpenOptions o;
  o.create = true;
  StatusOr<Segment> s = Segment::Open(ns_.ns(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->List().empty());
}

// An updater killed after sealing the ring (slot left UPDATING by a pid that
// is gone): the next caller that meets the sealed ring finishes the change.
TEST_F(CorruptSegmentTest, AbandonedResizeIsRepairedByTheNextCaller) {
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const uint64_t baton = (uint64_t(dead) << 32) | ((platform::PidNamespaceId() & 0xffffff) << 8) |
                         kSlotUpdating;
  slot0()->status.store(baton);
  auto* rec = reinterpret_cast<ParamsRecord*>(base_ + slot0()->params_off.load());
  auto* words = reinterpret_cast<std::atomic<int64_t>*>(base_ + rec->ring_off + sizeof(RingHeader));
  for (int i = 0; i < 4; ++i) words[i].store(kSealed);
  StatusOr<Segment> s = Segment::Open(ns_.ns());
  ASSERT_TRUE(s.ok());
  StatusOr<Limiter> l = s->Find("s");
  ASSERT_TRUE(l.ok());
  Decision first = l->TryAcquire(1);  // meets the sealed ring, repairs it
  EXPECT_FALSE(first.granted);
  EXPECT_GT(first.retry_after_ns, 0);
  EXPECT_LE(first.retry_after_ns, kNanosPerSecond);
  EXPECT_EQ(StatusState(slot0()->status.load()), kSlotReady);
  // The sealed words counted as grants made at the repair: wait them out.
  EXPECT_TRUE(l->Acquire(1, 3 * kNanosPerSecond).ok());
}

}  // namespace
}  // namespace sluice
