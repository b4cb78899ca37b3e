#include "top_view.h"

#include <gtest/gtest.h>

#include "sluice/duration.h"

namespace sluice {
namespace {

constexpr int64_t kSec = kNanosPerSecond;

Snapshot At(int64_t t, uint64_t granted, uint64_t denied, const std::string& name = "api") {
  Snapshot s;
  s.info.ns = "web";
  s.taken_ns = t;
  LimiterRow r;
  r.name = name;
  r.spec = LimiterSpec::Gcra(100, kSec, 10);
  r.stats.granted = granted;
  r.stats.denied = denied;
  r.level.capacity = 10;
  s.rows.push_back(r);
  return s;
}

// Display columns of a UTF-8 string.
size_t Columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(RateTracker, RatesFromCounterDeltas) {
  RateTracker t;
  EXPECT_EQ(t.RateOf("api").granted_per_s, 0.0);
  t.Add(At(10 * kSec, 1000, 0));
  EXPECT_EQ(t.RateOf("api").granted_per_s, 0.0) << "one sample: no rate";
  t.Add(At(10 * kSec + kSec / 2, 1050, 10));
  t.Add(At(11 * kSec, 1100, 40));
  EXPECT_DOUBLE_EQ(t.RateOf("api").granted_per_s, 100.0);
  EXPECT_DOUBLE_EQ(t.RateOf("api").denied_per_s, 40.0);
  EXPECT_DOUBLE_EQ(t.RateOf("api", kSec / 2).denied_per_s, 60.0);
}

TEST(RateTracker, HistoryBucketsAndRestart) {
  RateTracker t;
  for (int i = 0; i <= 10; ++i) t.Add(At(i * kSec, uint64_t(i) * (i < 5 ? 10 : 100), 0));
  const std::vector<double> h = t.History("api", 12, kSec);
  ASSERT_EQ(h.size(), 12u);
  EXPECT_EQ(h[0], -1.0) << "before the first sample";
  EXPECT_EQ(h[1], -1.0);
  EXPECT_DOUBLE_EQ(h[2], 10.0);
  EXPECT_DOUBLE_EQ(h[11], 100.0);
  // Counters going down (limiter recreated) restart the series.
  t.Add(At(11 * kSec, 5, 0));
  EXPECT_EQ(t.RateOf("api").granted_per_s, 0.0);
}

TEST(RateTracker, ForgetsOldSamplesAndLimiters) {
  RateTracker t(10 * kSec);
  for (int i = 0; i <= 30; ++i) t.Add(At(i * kSec, uint64_t(i), 0));
  EXPECT_EQ(t.History("api", 30, kSec)[0], -1.0) << "samples older than the history are dropped";
  t.Add(At(45 * kSec, 31, 0, "other"));
  EXPECT_EQ(t.History("api", 1, kSec)[0], -1.0) << "api was forgotten";
}

TEST(Sparkline, ScalesToMax) {
  EXPECT_EQ(Sparkline({-1, 0, 50, 100}, 100, true), " _=#");
  EXPECT_EQ(Sparkline({0, 100}, 100, false), "\u2581\u2588");
  EXPECT_EQ(Sparkline({5}, 0, true), "_");
}

TEST(RenderTop, FitsTheScreen) {
  RateTracker t;
  t.Add(At(0, 0, 0));
  t.Add(At(kSec, 100, 7));
  const Snapshot snap = At(kSec, 100, 7);
  TopOptions o;
  o.clock = "12:00:00";
  const std::vector<std::string> lines = RenderTop(snap, t, o);
  ASSERT_EQ(lines.size(), 24u);
  for (const std::string& l : lines) EXPECT_LE(Columns(l), 80u) << l;
  EXPECT_EQ(lines[0].rfind("sluice top - namespace web - 1 limiter - 12:00:00", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2].rfind("NAME", 0), 0u);
  EXPECT_NE(lines[2].find("RATE/s"), std::string::npos);
  EXPECT_NE(lines[2].find("UTIL"), std::string::npos);
  EXPECT_NE(lines[2].find("DENY/s"), std::string::npos);
  EXPECT_NE(lines[2].find("WAIT"), std::string::npos);
  EXPECT_EQ(lines[3].rfind("api                   100  100%        7     0 0/10", 0), 0u)
      << lines[3];
  EXPECT_EQ(lines[23].rfind("q: quit", 0), 0u);
}

TEST(RenderTop, ManyLimitersOverflowAndNarrowScreens) {
  Snapshot snap = At(kSec, 1, 0);
  for (int i = 0; i < 40; ++i) snap.rows.push_back(At(kSec, 1, 0, "l" + std::to_string(i)).rows[0]);
  RateTracker t;
  t.Add(snap);
  TopOptions o;
  o.width = 50;
  o.height = 10;
  const std::vector<std::string> lines = RenderTop(snap, t, o);
  ASSERT_EQ(lines.size(), 10u);
  for (const std::string& l : lines) EXPECT_LE(Columns(l), 50u) << l;
  EXPECT_EQ(lines[8].rfind("... 36 more", 0), 0u) << lines[8];
}

}  // namespace
}  // namespace sluice
