#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "division.h"

namespace sluice::fleet {
namespace {

std::vector<uint64_t> D(Division d, uint64_t cap, std::vector<Claimant> c, uint64_t granule = 1) {
  return Divide(d, cap, granule, c);
}

uint64_t Sum(const std::vector<uint64_t>& v) { return std::accumulate(v.begin(), v.end(), 0ull); }

TEST(Division, FairIsMaxMin) {
  // 70/20/30 of 100: the small one gets all it wants, the rest split evenly
  // up to their wants (h3 30, h1 the remaining 50).
  EXPECT_EQ(D(Division::kFair, 100, {{70, 1}, {20, 1}, {30, 1}}),
            (std::vector<uint64_t>{50, 20, 30}));
  // Everyone wants more: equal split.
  EXPECT_EQ(D(Division::kFair, 90, {{100, 1}, {100, 1}, {100, 1}}),
            (std::vector<uint64_t>{30, 30, 30}));
}

TEST(Division, FairHonoursWeights) {
  EXPECT_EQ(D(Division::kFair, 100, {{100, 3}, {100, 1}}), (std::vector<uint64_t>{75, 25}));
  // A heavy host wanting little leaves the rest to the light one.
  EXPECT_EQ(D(Division::kFair, 100, {{10, 3}, {100, 1}}), (std::vector<uint64_t>{10, 90}));
}

TEST(Division, SpareCapacityGoesOutByWeightExceptStatic) {
  EXPECT_EQ(D(Division::kFair, 100, {{10, 1}, {20, 1}}), (std::vector<uint64_t>{45, 55}));
  EXPECT_EQ(D(Division::kProportional, 100, {{10, 1}, {20, 1}}), (std::vector<uint64_t>{45, 55}));
  EXPECT_EQ(D(Division::kStatic, 100, {{10, 1}, {20, 1}}), (std::vector<uint64_t>{10, 20}));
}

TEST(Division, StaticIsTheWeightedEqualPartCappedAtWant) {
  EXPECT_EQ(D(Division::kStatic, 100, {{70, 1}, {20, 1}, {30, 1}}),
            (std::vector<uint64_t>{33, 20, 30}));
  EXPECT_EQ(D(Division::kStatic, 100, {{70, 3}, {70, 1}}), (std::vector<uint64_t>{70, 25}));
}

TEST(Division, ProportionalSharesTheExtraByExtraWant) {
  // Equal part 50 each; h2 wants 20, leaving 30 beyond the equal parts...
  // h1 wants 100 (50 extra): gets 50 + 30.
  EXPECT_EQ(D(Division::kProportional, 100, {{100, 1}, {20, 1}}), (std::vector<uint64_t>{80, 20}));
  // Equal part 33.3; extra wants 66.7 and 26.7, split 30 ... proportionally.
  const auto v = D(Division::kProportional, 100, {{100, 1}, {60, 1}, {10, 1}});
  EXPECT_EQ(v[2], 10u);
  EXPECT_EQ(Sum(v), 100u);
  EXPECT_GT(v[0], v[1]);
}

TEST(Division, DemandAboveTheLimitNeverExceedsIt) {
  for (Division d : {Division::kStatic, Division::kProportional, Division::kFair}) {
    const auto v = D(d, 100, {{1e9, 1}, {1e9, 2}, {5e8, 0.5}});
    EXPECT_LE(Sum(v), 100u) << DivisionName(d);
  }
}

TEST(Division, HostsJoiningAndLeaving) {
  // A third host joins: the fair parts shrink to make room for it.
  EXPECT_EQ(D(Division::kFair, 99, {{99, 1}, {99, 1}}), (std::vector<uint64_t>{50, 49}));
  EXPECT_EQ(D(Division::kFair, 99, {{99, 1}, {99, 1}, {99, 1}}),
            (std::vector<uint64_t>{33, 33, 33}));
  EXPECT_TRUE(D(Division::kFair, 99, {}).empty());
}

TEST(Division, GranulesAndRounding) {
  // gcra with granule 10: multiples of 10, the lost units go to the largest
  // remainders, never past capacity.
  const auto v = D(Division::kFair, 100, {{100, 1}, {100, 1}, {100, 1}}, 10);
  for (uint64_t x : v) EXPECT_EQ(x % 10, 0u);
  EXPECT_EQ(Sum(v), 100u);
  EXPECT_EQ(*std::max_element(v.begin(), v.end()), 40u);
  EXPECT_EQ(D(Division::kFair, 5, {{100, 1}}, 10), (std::vector<uint64_t>{0}));
}

TEST(Division, RandomizedNeverAboveCapacityOrWantForStatic) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 20000; ++iter) {
    const size_t n = 1 + rng() % 12;
    std::vector<Claimant> c(n);
    for (auto& x : c) {
      x.want = static_cast<double>(rng() % 1000) * (rng() % 4 == 0 ? 0 : 1);
      x.weight = 0.1 + static_cast<double>(rng() % 50) / 10;
    }
    const uint64_t cap = rng() % 2000;
    const uint64_t granule = 1 + rng() % 3;
    for (Division d : {Division::kStatic, Division::kProportional, Division::kFair}) {
      const auto v = Divide(d, cap, granule, c);
      ASSERT_LE(Sum(v), cap);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(v[i] % granule, 0u);
        if (d == Division::kStatic) {
          ASSERT_LE(static_cast<double>(v[i]), c[i].want + granule);
        }
      }
      if (d != Division::kStatic && cap >= granule * n * 2) {
        ASSERT_GE(Sum(v) + granule * n, cap) << "headroom handed out";
      }
    }
  }
}

}  // namespace
}  // namespace sluice::fleet
