#include "sluice/admin/budget_apply.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "sluice/admin/budget_file.h"
#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;

constexpr int64_t kMs = kNanosPerMilli;

Budget Parse(const std::string& text) {
  StatusOr<Budget> b = ParseBudget(text, "budget.toml");
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? *b : Budget{};
}

ApplyOptions To(const ScopedNamespace& ns, bool prune = false, bool dry_run = false) {
  ApplyOptions o;
  o.ns = ns.ns();
  o.prune = prune;
  o.dry_run = dry_run;
  return o;
}

const char kThree[] = R"(
[limiters.api]
algorithm = "gcra"
rate = 100
period = "1s"
burst = 10

[limiters.search]
algorithm = "sliding"
limit = 5
window = "10s"

[limiters.mutex]
algorithm = "lease"
holders = 1
ttl = "250ms"
)";

std::vector<ApplyAction> Actions(const ApplyReport& r) {
  std::vector<ApplyAction> out;
  for (const ApplyItem& i : r.items) out.push_back(i.action);
  return out;
}

TEST(BudgetApply, CreatesSegmentAndLimiters) {
  ScopedNamespace ns("apply1");
  StatusOr<ApplyReport> r = ApplyBudget(Parse(std::string("mode = \"0640\"\n") + kThree), To(ns));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->creates_segment);
  EXPECT_EQ(Actions(*r), (std::vector<ApplyAction>{ApplyAction::kCreate, ApplyAction::kCreate,
                                                   ApplyAction::kCreate}));
  StatusOr<Segment> seg = Segment::Open(ns.ns());
  ASSERT_TRUE(seg.ok());
  ASSERT_EQ(seg->List().size(), 3u);
  EXPECT_EQ(seg->Find("search")->spec(), LimiterSpec::Sliding(5, 10000 * kMs));
  EXPECT_EQ(seg->Info().mode, 0640u);
  struct stat st;
  ASSERT_EQ(stat(Segment::PathFor(ns.ns()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_NE(FormatApplyReport(*r).find("+ search  sliding limit=5 window=10s"), std::string::npos)
      << FormatApplyReport(*r);
}

TEST(BudgetApply, SameFileTwiceChangesNothing) {
  ScopedNamespace ns("apply2");
  const Budget b = Parse(kThree);
  ASSERT_TRUE(ApplyBudget(b, To(ns)).ok());
  const uint64_t arena = Segment::Open(ns.ns())->Info().arena_used;
  StatusOr<ApplyReport> again = ApplyBudget(b, To(ns));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changes());
  EXPECT_EQ(Actions(*again),
            (std::vector<ApplyAction>{ApplyAction::kUnchanged, ApplyAction::kUnchanged,
                                      ApplyAction::kUnchanged}));
  EXPECT_EQ(Segment::Open(ns.ns())->Info().arena_used, arena) << "nothing was written";
}

TEST(BudgetApply, InvalidThirdLimiterChangesNothing) {
  ScopedNamespace ns("apply3");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("search", LimiterSpec::Sliding(5, 10000 * kMs)).ok());
  ASSERT_TRUE(seg.Define("mutex", LimiterSpec::Window(3, 1000 * kMs)).ok());  // another algorithm
  const uint64_t arena = seg.Info().arena_used;
  // 1st new, 2nd a live change, 3rd changes algorithm: must fail as a whole.
  const std::string text =
      std::string(kThree).replace(std::string(kThree).find("limit = 5"), 9, "limit = 7");
  StatusOr<ApplyReport> r = ApplyBudget(Parse(text), To(ns));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kExists);
  EXPECT_EQ(r.status().message().rfind("budget.toml:14:13: limiter 'mutex' already exists", 0), 0u)
      << r.status().message();
  EXPECT_FALSE(seg.Find("api").ok()) << "first limiter must not have been created";
  EXPECT_EQ(seg.Find("search")->spec().limit, 5u) << "second limiter must not have changed";
  EXPECT_EQ(seg.Info().arena_used, arena);
}

TEST(BudgetApply, AlgorithmOfARetiredLimiterIsCheckedToo) {
  ScopedNamespace ns("apply4");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("api", LimiterSpec::Window(3, 1000 * kMs)).ok());
  ASSERT_TRUE(seg.Retire("api").ok());
  StatusOr<ApplyReport> r = ApplyBudget(Parse(kThree), To(ns));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("budget.toml:3:13: ", 0), 0u) << r.status().message();
  EXPECT_TRUE(seg.List().empty());
}

TEST(BudgetApply, LiveChangeKeepsState) {
  ScopedNamespace ns("apply5");
  ASSERT_TRUE(ApplyBudget(Parse(kThree), To(ns)).ok());
  Segment seg = *Segment::Open(ns.ns());
  Limiter search = *seg.Find("search");
  const int64_t t0 = MonotonicNowNs();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(search.TryAcquireAt(1, t0).granted);
  const std::string text =
      std::string(kThree).replace(std::string(kThree).find("limit = 5"), 9, "limit = 6");
  StatusOr<ApplyReport> r = ApplyBudget(Parse(text), To(ns));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->items[1].action, ApplyAction::kUpdate);
  EXPECT_EQ(r->items[1].before.limit, 5u);
  EXPECT_EQ(search.spec().limit, 6u) << "the open handle sees the new limit";
  // New room counts from the change on (a clock older than it finds none).
  const int64_t t1 = MonotonicNowNs();
  EXPECT_EQ(search.LevelAt(t1).used, 3.0) << "grants survive the change";
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(search.TryAcquireAt(1, t1).granted) << i;
  EXPECT_FALSE(search.TryAcquireAt(1, t1).granted) << "3 old + 3 new = limit 6";
}

TEST(BudgetApply, MissingLimitersAreKeptUnlessPruned) {
  ScopedNamespace ns("apply6");
  ASSERT_TRUE(ApplyBudget(Parse(kThree), To(ns)).ok());
  Segment seg = *Segment::Open(ns.ns());
  Limiter mutex = *seg.Find("mutex");
  ASSERT_TRUE(mutex.TryAcquire(1).granted);
  const std::string two =
      std::string(kThree).substr(0, std::string(kThree).find("[limiters.mutex]"));
  StatusOr<ApplyReport> keep = ApplyBudget(Parse(two), To(ns));
  ASSERT_TRUE(keep.ok());
  ASSERT_EQ(keep->items.size(), 3u);
  EXPECT_EQ(keep->items[2].name, "mutex");
  EXPECT_EQ(keep->items[2].action, ApplyAction::kKeep);
  EXPECT_FALSE(keep->changes());
  EXPECT_TRUE(seg.Find("mutex").ok());

  StatusOr<ApplyReport> dry = ApplyBudget(Parse(two), To(ns, /*prune=*/true, /*dry_run=*/true));
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->items[2].action, ApplyAction::kRetire);
  EXPECT_TRUE(seg.Find("mutex").ok()) << "dry run";

  StatusOr<ApplyReport> pruned = ApplyBudget(Parse(two), To(ns, /*prune=*/true));
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->items[2].action, ApplyAction::kRetire);
  EXPECT_EQ(seg.Find("mutex").status().code(), Code::kNotFound);
  EXPECT_TRUE(mutex.valid()) << "open handles keep working";

  StatusOr<ApplyReport> back = ApplyBudget(Parse(kThree), To(ns));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->items[2].action, ApplyAction::kRevive);
  EXPECT_EQ(seg.Find("mutex")->level().used, 1.0) << "state kept across retire and revive";
}

TEST(BudgetApply, DryRunCreatesNothing) {
  ScopedNamespace ns("apply7");
  StatusOr<ApplyReport> r = ApplyBudget(Parse(kThree), To(ns, false, /*dry_run=*/true));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->creates_segment);
  EXPECT_EQ(Segment::Open(ns.ns()).status().code(), Code::kNotFound);
  EXPECT_NE(FormatApplyReport(*r).find("would apply"), std::string::npos);
}

TEST(BudgetApply, TooManyLimitersForTheSegmentChangesNothing) {
  ScopedNamespace ns("apply8");
  OpenOptions small;
  small.capacity = 2;
  Segment seg = ns.Open(small);
  StatusOr<ApplyReport> r = ApplyBudget(Parse(kThree), To(ns));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFull);
  EXPECT_EQ(r.status().message().rfind("budget.toml:13:1: no free slot for limiter 'mutex'", 0), 0u)
      << r.status().message();
  EXPECT_TRUE(seg.List().empty());
}

TEST(BudgetApply, ArenaTooSmallChangesNothing) {
  ScopedNamespace ns("apply9");
  OpenOptions small;
  small.arena_bytes = 8192;
  Segment seg = ns.Open(small);
  StatusOr<ApplyReport> r =
      ApplyBudget(Parse("[limiters.a]\nalgorithm = \"gcra\"\nrate = 1\n[limiters.big]\nalgorithm = "
                        "\"sliding\"\nlimit = 100000\nwindow = \"1s\"\n"),
                  To(ns));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("budget.toml:4:1: limiter 'big' does not fit", 0), 0u)
      << r.status().message();
  EXPECT_TRUE(seg.List().empty());
}

TEST(BudgetApply, NewSegmentIsSizedForTheFile) {
  ScopedNamespace ns("apply10");
  StatusOr<ApplyReport> r = ApplyBudget(
      Parse("[limiters.big]\nalgorithm = \"sliding\"\nlimit = 1000000\nwindow = \"1s\"\n"), To(ns));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Segment::Open(ns.ns())->Find("big")->spec().limit, 1000000u);
}

TEST(BudgetApply, NamespaceFromOptionsThenFile) {
  ScopedNamespace file_ns("apply11");
  ScopedNamespace opt_ns("apply12");
  const Budget b = Parse("namespace = \"" + file_ns.ns() + "\"\n" + kThree);
  ApplyOptions none;
  StatusOr<ApplyReport> r = PlanBudget(b, none);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ns, file_ns.ns());
  r = ApplyBudget(b, To(opt_ns));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ns, opt_ns.ns());
  EXPECT_TRUE(Segment::Open(opt_ns.ns()).ok());
  EXPECT_FALSE(Segment::Open(file_ns.ns()).ok());
}

}  // namespace
}  // namespace sluice
