// Segment robustness: many processes racing to create one namespace, a
// creator killed mid-initialisation, and corrupted or truncated segment
// files. Every case must end in a working segment or a clear Status
// (kCorrupt / kVersion) - never a hang, a crash or an out-of-bounds access
// (run under ASan: see docs/testing.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>

#include "layout.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "stress_support.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;

// ---------------------------------------------------------------------------
// Racing creators.

struct RaceState {
  std::atomic<int64_t> go_ns{0};
  std::atomic<int> defined{0};
  std::atomic<int> granted{0};
  std::atomic<uint64_t> inode[64];
  std::atomic<int64_t> created[64];
  std::atomic<int> names_seen[64];
};

class RacingCreateTest : public ::testing::TestWithParam<Mode> {};

TEST_P(RacingCreateTest, AllSucceedOnOneSegmentAndSeeTheSameLimiters) {
  const Mode mode = GetParam();
  if (mode == Mode::kProcesses && kTsan) GTEST_SKIP() << "TSan build: threads only";
  const int n = 16;
  for (int round = 0; round < 5; ++round) {
    testing::ScopedNamespace ns("race");
    Shared<RaceState> st;
    st->go_ns = MonotonicNowNs() + 30 * kMs;  // all start together
    const std::string err = RunWorkers(
        mode, n,
        [&](int i) {
          SleepUntilNs(st->go_ns.load());
          OpenOptions o;
          o.create = true;
          StatusOr<Segment> seg = Segment::Open(ns.ns(), o);
          if (!seg.ok()) return 2;
          struct stat sb;
          if (stat(Segment::PathFor(ns.ns()).c_str(), &sb) != 0) return 3;
          st->inode[i] = sb.st_ino;
          st->created[i] = seg->Info().created_realtime_ns;
          // One shared limiter defined by everyone, one per worker.
          StatusOr<Limiter> common = seg->Define("common", LimiterSpec::Sliding(5, 60 * kSec));
          if (!common.ok()) return 4;
          if (!seg->Define("p" + std::to_string(i), LimiterSpec::Gcra(10, kSec, 1)).ok()) return 5;
          st->defined.fetch_add(1);
          const int64_t deadline = MonotonicNowNs() + 10 * kSec;
          while (st->defined.load() < n) {
            if (MonotonicNowNs() > deadline) return 6;
            SleepUntilNs(MonotonicNowNs() + 100 * 1000);
          }
          st->names_seen[i] = int(seg->List().size());
          for (int j = 0; j < n; ++j) {
            if (!seg->Find("p" + std::to_string(j)).ok()) return 7;
          }
          // Shared state: 5 grants in 60 s across all of them, not 5 each.
          for (int k = 0; k < 5; ++k) {
            if (common->TryAcquire(1).granted) st->granted.fetch_add(1);
          }
          return 0;
        },
        std::chrono::seconds(30));
    ASSERT_EQ(err, "") << "round " << round;
    std::set<uint64_t> inodes;
    std::set<int64_t> created;
    for (int i = 0; i < n; ++i) {
      inodes.insert(st->inode[i]);
      created.insert(st->created[i]);
      EXPECT_EQ(st->names_seen[i], n + 1) << "worker " << i;
    }
    EXPECT_EQ(inodes.size(), 1u) << "one segment file";
    EXPECT_EQ(created.size(), 1u) << "initialised once";
    EXPECT_EQ(st->granted.load(), 5) << "all share one limiter state";
  }
  std::printf("[stress] race-create (%s): 5 rounds x %d creators: one segment each time\n",
              ModeName(mode), n);
}

INSTANTIATE_TEST_SUITE_P(Modes, RacingCreateTest,
                         ::testing::Values(Mode::kProcesses, Mode::kThreads),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(ModeName(p.param));
                         });

// Creators racing plain attachers (issue 8, "smaller"): an attacher that
// opened the file between a creator's open and its lock used to get
// "corrupt: truncated". A plain open must see "does not exist" or a
// complete segment, nothing in between.
struct AttachRaceState {
  std::atomic<int64_t> go_ns{0};
  std::atomic<int> attached{0};
  std::atomic<int> not_found{0};
};

class RacingAttachTest : public ::testing::TestWithParam<Mode> {};

TEST_P(RacingAttachTest, AttachersSeeNothingOrACompleteSegment) {
  const Mode mode = GetParam();
  if (mode == Mode::kProcesses && kTsan) GTEST_SKIP() << "TSan build: threads only";
  const int n = 8;  // half create, half attach
  const int rounds = 40;
  int not_found = 0;
  for (int round = 0; round < rounds; ++round) {
    testing::ScopedNamespace ns("attach-race");
    Shared<AttachRaceState> st;
    st->go_ns = MonotonicNowNs() + 20 * kMs;
    const std::string err = RunWorkers(
        mode, n,
        [&](int i) {
          if (i % 2 == 0) {
            SleepUntilNs(st->go_ns.load());
            StatusOr<Segment> seg = Segment::Open(ns.ns(), OpenOptions{.create = true});
            return seg.ok() ? 0 : 2;
          }
          // Attachers start early and open in a tight loop, so some open
          // while the creators are half way.
          const int64_t deadline = st->go_ns.load() + 10 * kSec;
          for (;;) {
            StatusOr<Segment> seg = Segment::Open(ns.ns());
            if (seg.ok()) {
              st->attached.fetch_add(1);
              return seg->Info().capacity == OpenOptions{}.capacity ? 0 : 3;
            }
            if (seg.status().code() != Code::kNotFound) {
              std::fprintf(stderr, "attacher: %s\n", seg.status().ToString().c_str());
              return 4;
            }
            st->not_found.fetch_add(1);
            if (MonotonicNowNs() > deadline) return 5;
          }
        },
        std::chrono::seconds(30));
    ASSERT_EQ(err, "") << "round " << round;
    EXPECT_EQ(st->attached.load(), n / 2);
    not_found += st->not_found.load();
  }
  std::printf(
      "[stress] attach-race (%s): %d rounds x %d creators + %d attachers, %d opens saw "
      "no segment yet, none saw a partial one\n",
      ModeName(mode), rounds, n / 2, n / 2, not_found);
}

INSTANTIATE_TEST_SUITE_P(Modes, RacingAttachTest,
                         ::testing::Values(Mode::kProcesses, Mode::kThreads),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(ModeName(p.param));
                         });

// ---------------------------------------------------------------------------
// Raw access to the segment file, as a dying creator or a stray writer
// would leave it.

std::string ShmPath(const std::string& ns) { return Segment::PathFor(ns); }

// Creates the shm object with `size` zero bytes, like a creator that died
// after ftruncate and before writing the header.
void MakeUninitialised(const std::string& ns, off_t size) {
  const int fd = open(ShmPath(ns).c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, size), 0);
  close(fd);
}

// Maps the segment file and lets `poke` change it.
void Poke(const std::string& ns, const std::function<void(char* base, size_t size)>& poke) {
  const int fd = open(ShmPath(ns).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct stat sb;
  ASSERT_EQ(fstat(fd, &sb), 0);
  void* p = mmap(nullptr, size_t(sb.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  poke(static_cast<char*>(p), size_t(sb.st_size));
  munmap(p, size_t(sb.st_size));
  close(fd);
}

void Truncate(const std::string& ns, off_t size) {
  ASSERT_EQ(truncate(ShmPath(ns).c_str(), size), 0);
}

Header* H(char* base) { return reinterpret_cast<Header*>(base); }

// True when `pid` has the segment file of `ns` open and is asleep (state
// S in /proc/PID/stat): once Open has opened the file, the only place it
// sleeps is its wait for the creator's flock.
bool WaitingOnSegmentLock(pid_t pid, const std::string& ns) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream stat(proc + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t rp = line.rfind(')');
  if (rp == std::string::npos || rp + 2 >= line.size() || line[rp + 2] != 'S') return false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(proc + "/fd", ec)) {
    std::error_code lec;
    if (std::filesystem::read_symlink(e.path(), lec) == ShmPath(ns)) return true;
  }
  return false;
}

Status OpenStatus(const std::string& ns, bool create) {
  OpenOptions o;
  o.create = create;
  return Segment::Open(ns, o).status();
}

TEST(SegmentCrashTest, UninitialisedSegmentIsReinitialisedByCreateOnly) {
  for (off_t size : {off_t(0), off_t(4096 + 256 * 256 + (4 << 20)), off_t(1 << 20)}) {
    testing::ScopedNamespace ns("uninit");
    MakeUninitialised(ns.ns(), size);
    const Status s = OpenStatus(ns.ns(), /*create=*/false);
    EXPECT_EQ(s.code(), Code::kCorrupt) << size << ": " << s.ToString();
    std::printf("[stress] uninitialised %lld-byte segment, open: %s\n", (long long)size,
                s.ToString().c_str());
    StatusOr<Segment> seg = Segment::Open(ns.ns(), OpenOptions{.create = true});
    ASSERT_TRUE(seg.ok()) << size << ": " << seg.status().ToString();
    StatusOr<Limiter> l = seg->Define("a", LimiterSpec::Sliding(2, kSec));
    ASSERT_TRUE(l.ok());
    EXPECT_TRUE(l->TryAcquire(1).granted);
    EXPECT_TRUE(OpenStatus(ns.ns(), false).ok());
  }
}

TEST(SegmentCrashTest, HeaderSmallerThanAHeaderIsAClearError) {
  testing::ScopedNamespace ns("tiny");
  MakeUninitialised(ns.ns(), 100);
  EXPECT_EQ(OpenStatus(ns.ns(), false).code(), Code::kCorrupt);
  // create: either re-initialises or refuses clearly; never crashes.
  const Status s = OpenStatus(ns.ns(), true);
  EXPECT_TRUE(s.ok() || s.code() == Code::kCorrupt) << s.ToString();
  std::printf("[stress] 100-byte zero segment, open(create): %s\n", s.ToString().c_str());
}

// A creator that holds the init flock and dies: openers wait for the lock
// (never for longer than the creator lives), then re-initialise (create) or
// report the uninitialised segment (attach).
TEST(SegmentCrashTest, CreatorKilledWhileHoldingTheInitLock) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork test runs in normal builds";
  for (bool create : {true, false}) {
    testing::ScopedNamespace ns("killed-creator");
    Shared<std::atomic<int>> locked;
    const pid_t creator = ForkChild([&] {
      const int fd = open(ShmPath(ns.ns()).c_str(), O_RDWR | O_CREAT, 0600);
      if (fd < 0 || ftruncate(fd, 4096 + 256 * 256 + (4 << 20)) != 0) return 2;
      if (flock(fd, LOCK_EX) != 0) return 3;
      locked->store(1);
      for (;;) SleepUntilNs(MonotonicNowNs() + kSec);  // "initialising" until killed
    });
    ASSERT_TRUE(testing::WaitFor([&] { return locked->load() == 1; }, std::chrono::seconds(5)));
    Shared<std::atomic<int>> result;  // 1 + Code of the opener's Open
    const pid_t opener = ForkChild([&] {
      OpenOptions o;
      o.create = create;
      StatusOr<Segment> seg = Segment::Open(ns.ns(), o);
      result->store(1 + int(seg.status().code()));
      if (seg.ok() && !seg->Define("a", LimiterSpec::Gcra(1, kSec, 1)).ok()) return 4;
      return 0;
    });
    // While the creator lives, the opener waits on the lock: it opened the
    // file and sleeps, and has no result.
    EXPECT_TRUE(testing::WaitFor([&] { return WaitingOnSegmentLock(opener, ns.ns()); },
                                 std::chrono::seconds(4)))
        << "the opener never waited on the creator's lock";
    EXPECT_EQ(result->load(), 0) << "opened while the creator held the init lock";
    kill(creator, SIGKILL);
    int st = 0;
    ASSERT_TRUE(WaitExit(creator, MonotonicNowNs() + 5 * kSec, &st));
    const bool exited = WaitExit(opener, MonotonicNowNs() + 5 * kSec, &st);
    if (!exited) {
      kill(opener, SIGKILL);
      waitpid(opener, &st, 0);
    }
    ASSERT_TRUE(exited) << "Open hung after the creator died";
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
    const Code got = Code(result->load() - 1);
    std::printf("[stress] creator killed holding the init lock: open(create=%d) -> %s\n", create,
                CodeName(got));
    EXPECT_EQ(got, create ? Code::kOk : Code::kCorrupt);
  }
}

// ---------------------------------------------------------------------------
// Corrupted files.

// A valid segment with three limiters (slots 0, 1, 2), all handles closed.
void MakeValid(const std::string& ns) {
  StatusOr<Segment> seg = Segment::Open(ns, OpenOptions{.create = true});
  ASSERT_TRUE(seg.ok());
  ASSERT_TRUE(seg->Define("s", LimiterSpec::Sliding(10, kSec)).ok());
  ASSERT_TRUE(seg->Define("l", LimiterSpec::Lease(4, kSec, true)).ok());
  ASSERT_TRUE(seg->Define("g", LimiterSpec::Gcra(100, kSec, 5)).ok());
}

struct HeaderCase {
  const char* name;
  std::function<void(const std::string& ns)> corrupt;
  Code want;                    // Open without create
  Code want_create = Code(-1);  // Open with create (-1: same as want)
};

TEST(SegmentCorruptTest, DamagedHeadersGiveAClearError) {
  const std::vector<HeaderCase> cases = {
      {"bad magic",
       [](const std::string& ns) {
         Poke(ns, [](char* b, size_t) { std::memcpy(b, "GARBAGE!", 8); });
       },
       Code::kCorrupt},
      // Zero magic is what a creator that died mid-initialisation leaves:
      // create re-initialises it (by design), attach reports it.
      {"zero magic",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->magic.store(0); }); },
       Code::kCorrupt, Code::kOk},
      {"other version",
       [](const std::string& ns) {
         Poke(ns, [](char* b, size_t) { H(b)->layout_version = kLayoutVersion + 1; });
       },
       Code::kVersion},
      {"truncated to 100 bytes", [](const std::string& ns) { Truncate(ns, 100); }, Code::kCorrupt},
      {"truncated to 5000 bytes", [](const std::string& ns) { Truncate(ns, 5000); },
       Code::kCorrupt},
      {"truncated by one page",
       [](const std::string& ns) {
         struct stat sb;
         stat(ShmPath(ns).c_str(), &sb);
         Truncate(ns, sb.st_size - 4096);
       },
       Code::kCorrupt},
      {"grown by one page",
       [](const std::string& ns) {
         struct stat sb;
         stat(ShmPath(ns).c_str(), &sb);
         Truncate(ns, sb.st_size + 4096);
       },
       Code::kCorrupt},
      {"header_size",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->header_size = 1234; }); },
       Code::kCorrupt},
      {"slot_size",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->slot_size = 128; }); },
       Code::kCorrupt},
      {"slots_offset",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->slots_offset = 64; }); },
       Code::kCorrupt},
      {"capacity 0",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->capacity = 0; }); },
       Code::kCorrupt},
      {"capacity huge",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->capacity = 1u << 30; }); },
       Code::kCorrupt},
      {"capacity larger, offsets consistent, file too short",
       [](const std::string& ns) {
         Poke(ns, [](char* b, size_t) {
           Header* h = H(b);
           h->capacity += 16;
           h->arena_offset += 16 * h->slot_size;
           h->total_size += 16 * h->slot_size;
         });
       },
       Code::kCorrupt},
      {"arena_offset",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->arena_offset += 64; }); },
       Code::kCorrupt},
      {"arena_size huge",
       [](const std::string& ns) {
         Poke(ns, [](char* b, size_t) { H(b)->arena_size = uint64_t{1} << 40; });
       },
       Code::kCorrupt},
      {"total_size",
       [](const std::string& ns) { Poke(ns, [](char* b, size_t) { H(b)->total_size -= 64; }); },
       Code::kCorrupt},
  };
  for (const HeaderCase& c : cases) {
    testing::ScopedNamespace ns("corrupt-header");
    MakeValid(ns.ns());
    c.corrupt(ns.ns());
    for (bool create : {false, true}) {
      const Status s = OpenStatus(ns.ns(), create);
      std::printf("[stress] corrupt header (%s), open(create=%d): %s\n", c.name, create,
                  s.ToString().c_str());
      // create must not silently wipe another layout's or a damaged file.
      const Code want = create && c.want_create != Code(-1) ? c.want_create : c.want;
      EXPECT_EQ(s.code(), want) << c.name << " create=" << create << ": " << s.ToString();
      if (!s.ok()) {
        EXPECT_FALSE(s.message().empty()) << c.name;
      }
    }
  }
}

// Random values in the header fields after a valid magic and version:
// Open must return a Status, and anything it accepts must be usable.
TEST(SegmentCorruptTest, FuzzedHeaderFieldsNeverCrash) {
  const uint64_t interesting[] = {0,
                                  1,
                                  63,
                                  64,
                                  4096,
                                  0xffffffffu,
                                  uint64_t{1} << 32,
                                  uint64_t{1} << 40,
                                  ~uint64_t{0},
                                  0x8000000000000000ULL};
  Rng rng(2024);
  int accepted = 0, rejected = 0, defined = 0;
  testing::ScopedNamespace ns("fuzz-header");
  for (int iter = 0; iter < 300; ++iter) {
    MakeValid(ns.ns());
    Poke(ns.ns(), [&](char* b, size_t) {
      Header* h = H(b);
      const int field = int(rng.Below(8));
      const uint64_t v = interesting[rng.Below(std::size(interesting))] + rng.Below(3) - 1;
      switch (field) {
        case 0:
          h->header_size = uint32_t(v);
          break;
        case 1:
          h->slot_size = uint32_t(v);
          break;
        case 2:
          h->capacity = uint32_t(v);
          break;
        case 3:
          h->slots_offset = v;
          break;
        case 4:
          h->arena_offset = v;
          break;
        case 5:
          h->arena_size = v;
          break;
        case 6:
          h->total_size = v;
          break;
        case 7:
          h->arena_used.store(v);
          break;  // see core_bugs_test
      }
    });
    StatusOr<Segment> seg = Segment::Open(ns.ns());
    if (!seg.ok()) {
      ++rejected;
      EXPECT_TRUE(seg.status().code() == Code::kCorrupt || seg.status().code() == Code::kVersion)
          << seg.status().ToString();
    } else {
      ++accepted;
      // Usable: it describes itself, every limiter it lists is one of the
      // three fresh ones and grants, and a new limiter either is defined
      // and keeps its bound or is refused with a clear Status.
      EXPECT_EQ(seg->Info().ns, ns.ns());
      const std::vector<Limiter> listed = seg->List();
      EXPECT_LE(listed.size(), 3u);
      for (Limiter l : listed) {
        const std::string name = l.name();
        EXPECT_TRUE(name == "s" || name == "l" || name == "g") << name;
        EXPECT_TRUE(l.TryAcquire(1).granted) << name;
        StatusOr<Limiter> found = seg->Find(name);
        EXPECT_TRUE(found.ok()) << name << ": " << found.status().ToString();
      }
      StatusOr<Limiter> added = seg->Define("new", LimiterSpec::Sliding(3, kSec));
      if (added.ok()) {
        ++defined;
        int granted = 0;
        for (int k = 0; k < 5; ++k) granted += added->TryAcquire(1).granted ? 1 : 0;
        EXPECT_EQ(granted, 3) << "a limiter defined in an accepted segment";
        StatusOr<Segment> again = Segment::Open(ns.ns());
        ASSERT_TRUE(again.ok()) << again.status().ToString();
        StatusOr<Limiter> seen = again->Find("new");
        ASSERT_TRUE(seen.ok()) << seen.status().ToString();
        EXPECT_FALSE(seen->TryAcquire(1).granted) << "state shared across attaches";
      } else {
        const Code code = added.status().code();
        EXPECT_TRUE(code == Code::kFull || code == Code::kCorrupt) << added.status().ToString();
      }
    }
    Segment::Remove(ns.ns());
  }
  std::printf(
      "[stress] fuzzed header fields: %d rejected, %d accepted and used (%d took a new "
      "limiter)\n",
      rejected, accepted, defined);
  // Both outcomes occur (the fuzzer is not vacuous either way).
  EXPECT_GT(rejected, 0);
  EXPECT_GT(accepted, 0);
}

SlotLayout* Slot(char* b, uint32_t i) {
  return reinterpret_cast<SlotLayout*>(b + H(b)->slots_offset + uint64_t{i} * sizeof(SlotLayout));
}
ParamsRecord* Params(char* b, uint32_t i) {
  return reinterpret_cast<ParamsRecord*>(b + ParamsWordOffset(Slot(b, i)->params_off.load()));
}

struct SlotCase {
  const char* name;
  const char* limiter;
  std::function<void(char* base, size_t size)> corrupt;
};

// Damaged slots: the segment opens (its header is fine), the damaged
// limiter gives kCorrupt from Find/Define and is skipped by List; the
// other limiters keep working.
TEST(SegmentCorruptTest, DamagedSlotsAndParamsGiveAClearError) {
  const std::vector<SlotCase> cases = {
      {"params_off past the end", "s",
       [](char* b, size_t size) { Slot(b, 0)->params_off = size + 64; }},
      {"params_off at the last bytes", "s",
       [](char* b, size_t size) { Slot(b, 0)->params_off = size - 64; }},
      {"params_off huge", "s", [](char* b, size_t) { Slot(b, 0)->params_off = ~uint64_t{0} - 63; }},
      {"params_off in the header", "s", [](char* b, size_t) { Slot(b, 0)->params_off = 64; }},
      {"params_off in the slots", "s",
       [](char* b, size_t) { Slot(b, 0)->params_off = H(b)->slots_offset; }},
      {"params_off misaligned", "s", [](char* b, size_t) { Slot(b, 0)->params_off += 8; }},
      {"params magic", "s", [](char* b, size_t) { Params(b, 0)->magic = 0; }},
      {"params algorithm", "s", [](char* b, size_t) { Params(b, 0)->algorithm = 9; }},
      {"params limit 0", "s", [](char* b, size_t) { Params(b, 0)->limit = 0; }},
      {"params window 0", "s", [](char* b, size_t) { Params(b, 0)->window_ns = 0; }},
      {"sliding ring_len lies (limit + 1)", "s",
       [](char* b, size_t) { Params(b, 0)->ring_len += 1; }},
      {"sliding ring_len lies (huge)", "s",
       [](char* b, size_t) { Params(b, 0)->ring_len = uint64_t{1} << 40; }},
      {"sliding ring_len and limit lie together", "s",
       [](char* b, size_t) {
         Params(b, 0)->ring_len = uint64_t{1} << 20;
         Params(b, 0)->limit = uint64_t{1} << 20;
       }},
      {"sliding ring_off past the end", "s",
       [](char* b, size_t size) { Params(b, 0)->ring_off = size - 8; }},
      {"sliding ring_off huge", "s",
       [](char* b, size_t) { Params(b, 0)->ring_off = ~uint64_t{0} - 7; }},
      {"lease ring_len lies", "l", [](char* b, size_t) { Params(b, 1)->ring_len = 1u << 30; }},
      {"lease holders and ring_len lie together", "l",
       [](char* b, size_t) {
         Params(b, 1)->ring_len = 1u << 16;
         Params(b, 1)->holders = 1u << 16;
       }},
      {"lease ring_off in the header", "l", [](char* b, size_t) { Params(b, 1)->ring_off = 0; }},
      {"gcra burst 0", "g", [](char* b, size_t) { Params(b, 2)->burst = 0; }},
  };
  for (const SlotCase& c : cases) {
    testing::ScopedNamespace ns("corrupt-slot");
    MakeValid(ns.ns());
    Poke(ns.ns(), c.corrupt);
    StatusOr<Segment> seg = Segment::Open(ns.ns());
    ASSERT_TRUE(seg.ok()) << c.name << ": " << seg.status().ToString();
    StatusOr<Limiter> found = seg->Find(c.limiter);
    std::printf("[stress] corrupt slot (%s): Find: %s\n", c.name,
                found.status().ToString().c_str());
    EXPECT_EQ(found.status().code(), Code::kCorrupt) << c.name;
    EXPECT_EQ(seg->List().size(), 2u) << c.name << ": the damaged limiter is skipped";
    StatusOr<Limiter> again =
        seg->Define(c.limiter, std::string(c.limiter) == "s"   ? LimiterSpec::Sliding(10, kSec)
                               : std::string(c.limiter) == "l" ? LimiterSpec::Lease(4, kSec, true)
                                                               : LimiterSpec::Gcra(100, kSec, 5));
    EXPECT_EQ(again.status().code(), Code::kCorrupt) << c.name;
    for (Limiter& l : seg->List())
      EXPECT_TRUE(l.TryAcquire(1).granted) << c.name << " " << l.name();
  }
}

TEST(SegmentCorruptTest, DamagedSlotStatusAndName) {
  testing::ScopedNamespace ns("corrupt-status");
  MakeValid(ns.ns());
  Poke(ns.ns(), [](char* b, size_t) {
    Slot(b, 1)->status.store(77);            // not a state
    std::memset(Slot(b, 2)->name, 'x', 64);  // no NUL terminator
  });
  StatusOr<Segment> seg = Segment::Open(ns.ns());
  ASSERT_TRUE(seg.ok());
  EXPECT_TRUE(seg->Find("s").ok());
  EXPECT_EQ(seg->Find("l").status().code(), Code::kNotFound);
  EXPECT_FALSE(seg->Find("g").ok());
  const Status s = seg->Define("new", LimiterSpec::Gcra(1, kSec, 1)).status();
  std::printf("[stress] slot status 77, Define past it: %s\n", s.ToString().c_str());
  EXPECT_EQ(s.code(), Code::kCorrupt);
  for (Limiter& l : seg->List()) EXPECT_LE(l.name().size(), 63u);
}

// A handle attached before the damage keeps its last validated parameters
// (it never follows a bad params_off), so the hot path cannot be steered
// out of bounds; its grants check params_off (sliding.h invariant 7), so
// it fails closed: denies, never over-grants.
TEST(SegmentCorruptTest, LiveHandleIgnoresABadParamsOffset) {
  testing::ScopedNamespace ns("corrupt-live");
  Segment seg = ns.Open();
  StatusOr<Limiter> s = seg.Define("s", LimiterSpec::Sliding(3, 60 * kSec));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->TryAcquire(1).granted);
  Poke(ns.ns(), [](char* b, size_t size) { Slot(b, 0)->params_off = size + 4096; });
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(s->TryAcquire(1).granted);
  EXPECT_EQ(s->spec(), LimiterSpec::Sliding(3, 60 * kSec));
}

}  // namespace
}  // namespace sluice::stress
