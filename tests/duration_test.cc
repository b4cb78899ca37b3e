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
  for (const char* bad : {"", "ms", "10", "10 ms", " 10ms", "-5ms", "+5ms", "1.5s", "10msx",
                          "10S", "10sec", "0x10ms", "ms10"}) {
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

}  // namespace
}  // namespace sluice
