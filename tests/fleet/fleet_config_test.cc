#include <gtest/gtest.h>

#include "config.h"

namespace sluice::fleet {
namespace {

constexpr const char* kGood = R"(listen = "127.0.0.1:7300"
[resources.partner-api]
algorithm = "sliding"
limit = 100
window = "1s"
division = "fair"
lease = "5s"
refresh = "1s"
reserved = 10

[resources.rate]
algorithm = "gcra"
rate = 1000
period = "1s"
burst = 100
division = "proportional"
lease = "2s"
refresh = "500ms"
fallback_for = "3s"
)";

TEST(FleetConfig, ParsesResources) {
  StatusOr<AllotterConfig> c = ParseAllotterConfig(kGood, "a.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:7300");
  ASSERT_EQ(c->resources.size(), 2u);
  const ResourceConfig& s = c->resources[0];
  EXPECT_EQ(s.name, "partner-api");
  EXPECT_EQ(s.spec.algorithm, Algorithm::kSliding);
  EXPECT_EQ(s.Amount(), 100u);
  EXPECT_EQ(s.division, Division::kFair);
  EXPECT_EQ(s.lease_ns, 5'000'000'000);
  EXPECT_EQ(s.refresh_ns, 1'000'000'000);
  EXPECT_EQ(s.reserved, 10u);
  EXPECT_EQ(s.fallback_for_ns, s.lease_ns);  // default
  EXPECT_EQ(s.TailNs(), 1'000'000'000);
  const ResourceConfig& g = c->resources[1];
  EXPECT_EQ(g.division, Division::kProportional);
  EXPECT_EQ(g.fallback_for_ns, 3'000'000'000);
  EXPECT_EQ(g.Granule(), 10u);  // 1000/100: each 10 of rate earns 1 of burst
  EXPECT_EQ(g.BurstFor(250), 25u);
  EXPECT_TRUE(c->warnings.empty());
}

void ExpectError(const std::string& text, const std::string& where_and_what) {
  StatusOr<AllotterConfig> c = ParseAllotterConfig(text, "a.toml");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find(where_and_what), std::string::npos)
      << c.status().message() << "\nwanted: " << where_and_what;
}

TEST(FleetConfig, ErrorsNameFileLineColumn) {
  const std::string head = "listen = \"127.0.0.1:7300\"\n[resources.x]\n";
  ExpectError(head + "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\ndivision = \"fifo\"\n",
              "a.toml:6:12: division must be");
  ExpectError(head + "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\nlease = \"5\"\n",
              "a.toml:6:9: lease");
  ExpectError(head + "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\nbogus = 1\n",
              "a.toml:6:1: unknown key 'bogus'");
  ExpectError(head + "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\nreserved = 6\n",
              "a.toml:6:12: reserved (6) is more than the limit (5)");
  ExpectError(head +
                  "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\nlease = \"1s\"\n"
                  "refresh = \"800ms\"\n",
              "a.toml:7:11: refresh (800ms) must be at most half of lease");
  ExpectError(head + "algorithm = \"sliding\"\nlimit = 5\nwindow = \"1s\"\nglobal = true\n",
              "a.toml:6:10: global belongs in the hosts' budget files");
  ExpectError(head + "algorithm = \"sliding\"\nwindow = \"1s\"\n", "a.toml:");
  ExpectError("listen = 5\n", "a.toml:1:10: listen must be");
  ExpectError("listen = \"x:1\"\nport = 1\n", "a.toml:2:8: unknown key 'port'");
  ExpectError("listen = \"x:1\"\n", "no [resources.NAME]");
  ExpectError("[resources.x]\nalgorithm=\"lease\"\nholders=1\nttl=\"1s\"\n",
              "missing key 'listen'");
  ExpectError("listen = \"x:1\"\n[resources.x\n", "a.toml:2:");
}

TEST(FleetConfig, WarnsWhenABurstCannotBeSplitWidely) {
  StatusOr<AllotterConfig> c = ParseAllotterConfig(
      "listen = \"127.0.0.1:0\"\n[resources.g]\nalgorithm = \"gcra\"\nrate = 100\nperiod = "
      "\"1s\"\nburst = 4\n",
      "a.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("split among at most 4 hosts"), std::string::npos);
  EXPECT_EQ(c->resources[0].Granule(), 25u);
}

}  // namespace
}  // namespace sluice::fleet
