#include "sluice/duration.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDuration("7ns"), 7);
  EXPECT_EQ(*ParseDuration("250us"), 250000);
  EXPECT_EQ(*ParseDuration("800ms"), 800000000);
  EXPECT_EQ(*ParseDuration("1s"), 1000000000);
  EXPECT_EQ(*ParseDuration("2m"), 120000000000);
  EXPECT_EQ(*ParseDuration("1h"), 3600000000000);
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad : {"", "ms", "10", "10 ms", " 10ms", "-5ms", "+5ms", "1.5s", "10msx", "10S",
                          "10sec", "0x10ms", "ms10"}) {
    StatusOr<int64_t> d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << "'" << bad << "'";
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(DurationTest, RejectsOverflow) {
  EXPECT_FALSE(ParseDuration("9223372036854775808ns").ok());
  EXPECT_FALSE(ParseDuration("9223372036854775807s").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999999ms").ok());
  EXPECT_TRUE(ParseDuration("9223372036854775807ns").ok());
}

TEST(DurationTest, NoUnitMessageSuggestsOne) {
  StatusOr<int64_t> d = ParseDuration("800");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("\"800ms\""), std::string::npos) << d.status().message();
}

TEST(DurationTest, FormatRoundTrips) {
  for (int64_t ns : {int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{1500}, int64_t{250000},
                     int64_t{800000000}, int64_t{1000000000}, int64_t{90} * 1000000000,
                     int64_t{7200} * 1000000000, int64_t{1234567891}}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(ns)), ns) << FormatDuration(ns);
  }
  EXPECT_EQ(FormatDuration(800000000), "800ms");
  EXPECT_EQ(FormatDuration(1500), "1500ns");
  EXPECT_EQ(FormatDuration(3600000000000), "1h");
}

TEST(DurationTest, ShortFormat) {
  EXPECT_EQ(FormatDurationShort(1250000), "1.25ms");
  EXPECT_EQ(FormatDurationShort(999), "999ns");
  EXPECT_EQ(FormatDurationShort(3000000000), "3s");
}

// Issue 8: values past 2^64 wrapped ("18446744074509551616ns" parsed as
// 800ms). Every unit, at and around each limit.
struct DurationCase {
  const char* text;
  int64_t ns;  // -1: must be rejected as too large
};

class DurationLimits : public ::testing::TestWithParam<DurationCase> {};

TEST_P(DurationLimits, ParsesExactlyOrRejects) {
  const DurationCase& c = GetParam();
  StatusOr<int64_t> d = ParseDuration(c.text);
  if (c.ns < 0) {
    ASSERT_FALSE(d.ok()) << c.text << " parsed as " << *d;
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    EXPECT_NE(d.status().message().find("too large"), std::string::npos) << d.status().message();
  } else {
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().ToString();
    EXPECT_EQ(*d, c.ns) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, DurationLimits,
    ::testing::Values(
        DurationCase{"18446744074509551616ns", -1},  // 2^64 + 800ms
        DurationCase{"18446744073709551617s", -1},   // 2^64 + 1
        DurationCase{"184467440737095516161s", -1},  // 10 * 2^64 + 1
        DurationCase{"18446744073709551616us", -1}, DurationCase{"18446744073709552616ms", -1},
        DurationCase{"18446744073709551621m", -1}, DurationCase{"18446744073709551617h", -1},
        DurationCase{"9223372036854775807ns", INT64_MAX}, DurationCase{"9223372036854775808ns", -1},
        DurationCase{"9223372036854775810ns", -1},
        DurationCase{"9223372036854775us", 9223372036854775000},
        DurationCase{"9223372036854776us", -1},
        DurationCase{"9223372036854ms", 9223372036854000000}, DurationCase{"9223372036855ms", -1},
        DurationCase{"9223372036s", 9223372036000000000}, DurationCase{"9223372037s", -1},
        DurationCase{"153722867m", int64_t{153722867} * 60 * kNanosPerSecond},
        DurationCase{"153722868m", -1},
        DurationCase{"2562047h", int64_t{2562047} * 3600 * kNanosPerSecond},
        DurationCase{"2562048h", -1},
        DurationCase{"0000000000000000000000000001s", kNanosPerSecond},
        DurationCase{"99999999999999999999999999999999999999ns", -1}));

TEST(DurationTest, FormatsTheExtremes) {
  EXPECT_EQ(FormatDuration(INT64_MIN), "-9223372036854775808ns");
  EXPECT_EQ(FormatDurationShort(INT64_MIN).substr(0, 1), "-");  // no -INT64_MIN
  EXPECT_EQ(FormatDuration(INT64_MAX), "9223372036854775807ns");
}

TEST(DurationTest, MessagesShowControlBytesEscaped) {
  StatusOr<int64_t> d = ParseDuration(std::string_view("8\0ms", 4));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message().find('\0'), std::string::npos);
  EXPECT_NE(d.status().message().find("8\\x00ms"), std::string::npos) << d.status().message();
}

}  // namespace
}  // namespace sluice
