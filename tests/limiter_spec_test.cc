#include "sluice/limiter_spec.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(LimiterSpecTest, ParsesEachAlgorithm) {
  StatusOr<LimiterSpec> g = ParseSpec("algorithm=\"gcra\"\nrate=100\nperiod=\"1s\"\nburst=10");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, LimiterSpec::Gcra(100, 1000000000, 10));
  StatusOr<LimiterSpec> s = ParseSpec("algorithm=\"sliding\"\nlimit=5\nwindow=\"800ms\"");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, LimiterSpec::Sliding(5, 800000000));
  StatusOr<LimiterSpec> w = ParseSpec("algorithm = \"window\"\nlimit = 7\nwindow = \"250us\"");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, LimiterSpec::Window(7, 250000));
  StatusOr<LimiterSpec> l =
      ParseSpec("algorithm=\"lease\"\nholders=1\nttl=\"250ms\"\nreclaim=true");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, LimiterSpec::Lease(1, 250000000, true));
}

TEST(LimiterSpecTest, Defaults) {
  StatusOr<LimiterSpec> g = ParseSpec("algorithm=\"gcra\"\nrate=3");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->period_ns, 1000000000);
  EXPECT_EQ(g->burst, 1u);
  StatusOr<LimiterSpec> l = ParseSpec("algorithm=\"lease\"\nholders=2\nttl=\"1s\"");
  ASSERT_TRUE(l.ok());
  EXPECT_FALSE(l->reclaim);
}

struct BadSpec {
  const char* text;
  const char* where;    // "LINE:COL"
  const char* message;  // substring
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, RejectedWithPosition) {
  const BadSpec& b = GetParam();
  StatusOr<LimiterSpec> s = ParseSpec(b.text, "f.toml");
  ASSERT_FALSE(s.ok()) << b.text;
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  const std::string& m = s.status().message();
  EXPECT_EQ(m.rfind(std::string("f.toml:") + b.where + ": ", 0), 0u) << m;
  EXPECT_NE(m.find(b.message), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadSpecTest,
    ::testing::Values(
        BadSpec{"rate=1", "1:1", "missing key 'algorithm'"},
        BadSpec{"algorithm=\"bucket\"", "1:11", "algorithm must be one of"},
        BadSpec{"algorithm=\"gcra\"\nrate=0", "2:6", "rate must be between 1"},
        BadSpec{"algorithm=\"gcra\"\nrate=-4", "2:6", "must not be negative"},
        BadSpec{"algorithm=\"gcra\"\nrate=1.5", "2:6", "rate must be an integer"},
        BadSpec{"algorithm=\"gcra\"\nperiod=\"1s\"", "1:1", "missing key 'rate'"},
        BadSpec{"algorithm=\"gcra\"\nrate=10\nburts=3", "3:1", "unknown key 'burts'"},
        BadSpec{"algorithm=\"gcra\"\nrate=10\nperiod=1", "3:8", "duration string"},
        BadSpec{"algorithm=\"gcra\"\nrate=10\nperiod=\"0s\"", "3:8", "period must be between"},
        BadSpec{"algorithm=\"gcra\"\nrate=10\nburst=0", "3:7", "burst must be between"},
        BadSpec{"algorithm=\"gcra\"\nrate=1\nperiod=\"300d\"", "3:8", "unknown unit 'd'"},
        BadSpec{"algorithm=\"gcra\"\nrate=1\nperiod=\"365d\"\nlimit=3", "4:1", "does not apply"},
        BadSpec{"algorithm=\"sliding\"\nwindow=\"1s\"", "1:1", "missing key 'limit'"},
        BadSpec{"algorithm=\"sliding\"\nlimit=5", "1:1", "missing key 'window'"},
        BadSpec{"algorithm=\"sliding\"\nlimit=5\nwindow=\"999ns\"", "3:8",
                "window must be between"},
        BadSpec{"algorithm=\"sliding\"\nlimit=99999999\nwindow=\"1s\"", "2:7",
                "limit must be between"},
        BadSpec{"algorithm=\"window\"\nlimit=16777216\nwindow=\"1s\"", "2:7",
                "limit must be between"},
        BadSpec{"algorithm=\"lease\"\nholders=1", "1:1", "missing key 'ttl'"},
        BadSpec{"algorithm=\"lease\"\nholders=0\nttl=\"1s\"", "2:9", "holders must be between"},
        BadSpec{"algorithm=\"lease\"\nholders=1\nttl=\"1s\"\nreclaim=1", "4:9", "true or false"},
        BadSpec{"algorithm=\"lease\"\nholders=1\nttl=\"1s\"\nrate=3", "4:1", "does not apply"},
        BadSpec{"algorithm=\"gcra\"\nrate=99999999999999999999", "2:26", "not representable"},
        BadSpec{"algorithm=\"gcra\"\nrate=1\nperiod=\"100000000h\"", "3:8", "too large"},
        BadSpec{"algorithm=\"gcra\"\nrate=1\nperiod=\"300h\"\nburst=1099511627777", "4:7",
                "burst must be between"},
        BadSpec{"algorithm=\"gcra\"\nrate=1\nperiod=\"8760h\"\nburst=1000000", "4:7", "too large"},
        BadSpec{"algorithm=\"gcra\"\nrate=", "2:6", ""}));

TEST(LimiterSpecTest, ToTomlRoundTrips) {
  for (const LimiterSpec& s :
       {LimiterSpec::Gcra(100, 1000000000, 10), LimiterSpec::Sliding(5, 800000000),
        LimiterSpec::Window(3, 1500), LimiterSpec::Lease(2, 250000000, true)}) {
    StatusOr<LimiterSpec> back = ParseSpec(s.ToToml());
    ASSERT_TRUE(back.ok()) << s.ToToml() << back.status().ToString();
    EXPECT_EQ(*back, s);
  }
}

TEST(LimiterSpecTest, Describe) {
  EXPECT_EQ(LimiterSpec::Sliding(5, 800000000).Describe(), "sliding limit=5 window=800ms");
  EXPECT_EQ(LimiterSpec::Gcra(100, 1000000000, 10).Describe(), "gcra rate=100 period=1s burst=10");
}

TEST(LimiterSpecTest, Names) {
  EXPECT_TRUE(ValidateName("partner-api", "limiter").ok());
  EXPECT_TRUE(ValidateName("a.b_c-9", "limiter").ok());
  EXPECT_TRUE(ValidateName(std::string(63, 'x'), "limiter").ok());
  EXPECT_FALSE(ValidateName(std::string(64, 'x'), "limiter").ok());
  EXPECT_FALSE(ValidateName("", "limiter").ok());
  EXPECT_FALSE(ValidateName("a/b", "limiter").ok());
  EXPECT_FALSE(ValidateName("-x", "limiter").ok());
  EXPECT_FALSE(ValidateName(".x", "limiter").ok());
  EXPECT_FALSE(ValidateName("sp ace", "limiter").ok());
}

}  // namespace
}  // namespace sluice
