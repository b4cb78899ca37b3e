#include "sluice/sluice.h"

#include <gtest/gtest.h>

#include <string>

#include "support/test_namespace.h"

namespace {

TEST(CApiTest, DefineAcquireLease) {
  sluice::testing::ScopedNamespace ns("capi");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  ASSERT_EQ(sluice_define(seg, "search", "algorithm=\"sliding\"\nlimit=2\nwindow=\"800ms\"", &l), SLUICE_OK);
  int64_t retry = -2;
  EXPECT_EQ(sluice_try_acquire(l, 2, &retry), 1);
  EXPECT_EQ(retry, 0);
  EXPECT_EQ(sluice_try_acquire(l, 1, &retry), 0);
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 800000000);
  EXPECT_EQ(sluice_acquire(l, 1, 1000000), SLUICE_ETIMEOUT);
  // Same spec again is a no-op; find returns the same limiter.
  sluice_limiter* again = nullptr;
  EXPECT_EQ(sluice_define(seg, "search", "algorithm=\"sliding\"\nlimit=2\nwindow=\"800ms\"", &again), SLUICE_OK);
  sluice_limiter* found = nullptr;
  EXPECT_EQ(sluice_find(seg, "search", &found), SLUICE_OK);
  EXPECT_EQ(sluice_try_acquire(found, 1, nullptr), 0);

  sluice_limiter* lock = nullptr;
  ASSERT_EQ(sluice_define(seg, "db", "algorithm=\"lease\"\nholders=1\nttl=\"250ms\"", &lock), SLUICE_OK);
  sluice_lease a, b;
  ASSERT_EQ(sluice_lease_acquire(lock, 0, &a), 1);
  EXPECT_EQ(sluice_lease_acquire(lock, 0, &b), SLUICE_ETIMEOUT);
  EXPECT_EQ(sluice_lease_renew(lock, &a), SLUICE_OK);
  EXPECT_EQ(sluice_lease_release(lock, &a), SLUICE_OK);
  EXPECT_EQ(sluice_lease_release(lock, &a), SLUICE_ENOTHELD);
  ASSERT_EQ(sluice_lease_acquire(lock, 0, &b), 1);
  EXPECT_GT(b.token, a.token);
  sluice_close(seg);
}

TEST(CApiTest, ErrorsHaveCodesAndMessages) {
  sluice::testing::ScopedNamespace ns("capierr");
  sluice_segment* seg = nullptr;
  EXPECT_EQ(sluice_open(ns.ns().c_str(), 0, &seg), SLUICE_ENOTFOUND);
  EXPECT_NE(std::string(sluice_last_error()).find("does not exist"), std::string::npos);
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"sliding\"\nlimit=5\nwindow=\"800\"", &l), SLUICE_EINVAL);
  EXPECT_NE(std::string(sluice_last_error()).find("spec:3:8:"), std::string::npos) << sluice_last_error();
  EXPECT_EQ(sluice_find(seg, "x", &l), SLUICE_ENOTFOUND);
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"gcra\"\nrate=1", &l), SLUICE_OK);
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"window\"\nlimit=1\nwindow=\"1s\"", &l), SLUICE_EEXIST);
  EXPECT_EQ(sluice_try_acquire(nullptr, 1, nullptr), SLUICE_EINVAL);
  EXPECT_STREQ(sluice_strerror(SLUICE_ETIMEOUT), "timed out");
  EXPECT_GT(sluice_now_ns(), 0);
  sluice_close(seg);
}

}  // namespace
