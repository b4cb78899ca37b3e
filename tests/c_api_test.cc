#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "sluice/sluice.h"
#include "support/test_namespace.h"

namespace {

TEST(CApiTest, DefineAcquireLease) {
  sluice::testing::ScopedNamespace ns("capi");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  ASSERT_EQ(sluice_define(seg, "search", "algorithm=\"sliding\"\nlimit=2\nwindow=\"800ms\"", &l),
            SLUICE_OK);
  int64_t retry = -2;
  EXPECT_EQ(sluice_try_acquire(l, 2, &retry), 1);
  EXPECT_EQ(retry, 0);
  EXPECT_EQ(sluice_try_acquire(l, 1, &retry), 0);
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 800000000);
  EXPECT_EQ(sluice_acquire(l, 1, 1000000), SLUICE_ETIMEOUT);
  // Same spec again is a no-op; find returns the same limiter.
  sluice_limiter* again = nullptr;
  EXPECT_EQ(
      sluice_define(seg, "search", "algorithm=\"sliding\"\nlimit=2\nwindow=\"800ms\"", &again),
      SLUICE_OK);
  sluice_limiter* found = nullptr;
  EXPECT_EQ(sluice_find(seg, "search", &found), SLUICE_OK);
  EXPECT_EQ(sluice_try_acquire(found, 1, nullptr), 0);

  sluice_limiter* lock = nullptr;
  ASSERT_EQ(sluice_define(seg, "db", "algorithm=\"lease\"\nholders=1\nttl=\"250ms\"", &lock),
            SLUICE_OK);
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
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"sliding\"\nlimit=5\nwindow=\"800\"", &l),
            SLUICE_EINVAL);
  EXPECT_NE(std::string(sluice_last_error()).find("spec:3:8:"), std::string::npos)
      << sluice_last_error();
  EXPECT_EQ(sluice_find(seg, "x", &l), SLUICE_ENOTFOUND);
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"gcra\"\nrate=1", &l), SLUICE_OK);
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"window\"\nlimit=1\nwindow=\"1s\"", &l),
            SLUICE_EEXIST);
  EXPECT_EQ(sluice_try_acquire(nullptr, 1, nullptr), SLUICE_EINVAL);
  EXPECT_STREQ(sluice_strerror(SLUICE_ETIMEOUT), "timed out");
  EXPECT_GT(sluice_now_ns(), 0);
  sluice_close(seg);
}

// Issue 8: sluice_acquire(l, UINT32_MAX, 1 s) let std::bad_alloc escape
// the C ABI (the caller aborted). Every algorithm says EINVAL at once.
TEST(CApiTest, AcquireAboveCapacityIsInvalidForEveryAlgorithm) {
  sluice::testing::ScopedNamespace ns("capicap");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  const char* specs[] = {"algorithm=\"gcra\"\nrate=10\nburst=3",
                         "algorithm=\"window\"\nlimit=3\nwindow=\"1s\"",
                         "algorithm=\"sliding\"\nlimit=3\nwindow=\"1s\"",
                         "algorithm=\"lease\"\nholders=3\nttl=\"1s\""};
  int i = 0;
  for (const char* spec : specs) {
    sluice_limiter* l = nullptr;
    ASSERT_EQ(sluice_define(seg, ("l" + std::to_string(i++)).c_str(), spec, &l), SLUICE_OK);
    for (uint32_t n : {4u, 100000000u, 1073741824u, 4294967295u}) {
      EXPECT_EQ(sluice_acquire(l, n, 1000000000), SLUICE_EINVAL) << spec << " " << n;
      EXPECT_NE(std::string(sluice_last_error()).find("can never be granted"), std::string::npos)
          << sluice_last_error();
      EXPECT_EQ(sluice_acquire(l, n, -1), SLUICE_EINVAL) << spec << " " << n;
      int64_t retry = 0;
      EXPECT_EQ(sluice_try_acquire(l, n, &retry), 0);
      EXPECT_EQ(retry, -1);
    }
    EXPECT_EQ(sluice_acquire(l, 3, 1000000000), 1) << spec;
  }
  sluice_close(seg);
}

TEST(CApiTest, BlockingAcquireOnALeaseLimiter) {
  sluice::testing::ScopedNamespace ns("capilease");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  ASSERT_EQ(sluice_define(seg, "m", "algorithm=\"lease\"\nholders=2\nttl=\"40ms\"", &l), SLUICE_OK);
  EXPECT_EQ(sluice_acquire(l, 2, 0), 1);
  EXPECT_EQ(sluice_acquire(l, 1, 0), SLUICE_ETIMEOUT);
  EXPECT_EQ(sluice_acquire(l, 2, 10000000000), 1);  // after both lapse
  EXPECT_EQ(sluice_acquire(l, 2, INT64_MAX), 1);    // huge timeout: forever, no overflow
  sluice_close(seg);
}

TEST(CApiTest, ReadOnlyTryAcquireIsPermissionDenied) {
  sluice::testing::ScopedNamespace ns("capiro");
  sluice_segment* rw = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &rw), SLUICE_OK);
  sluice_limiter* l = nullptr;
  ASSERT_EQ(sluice_define(rw, "s", "algorithm=\"sliding\"\nlimit=3\nwindow=\"1s\"", &l), SLUICE_OK);
  sluice_segment* ro = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_READONLY, &ro), SLUICE_OK);
  ASSERT_EQ(sluice_find(ro, "s", &l), SLUICE_OK);
  int64_t retry = 0;
  EXPECT_EQ(sluice_try_acquire(l, 1, &retry), SLUICE_EPERM);
  EXPECT_NE(std::string(sluice_last_error()).find("read-only"), std::string::npos);
  sluice_close(ro);
  sluice_close(rw);
}

TEST(CApiTest, MessagesAreNeverCutAtNul) {
  sluice::testing::ScopedNamespace ns("capinul");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  // A TOML escape puts a NUL inside the duration string.
  EXPECT_EQ(sluice_define(seg, "x", "algorithm=\"sliding\"\nlimit=5\nwindow=\"8\\u0000ms\"", &l),
            SLUICE_EINVAL);
  const std::string m = sluice_last_error();
  EXPECT_NE(m.find("8\\x00ms"), std::string::npos) << m;
  EXPECT_NE(m.find("unit"), std::string::npos) << m;  // the text after the NUL survives
  EXPECT_EQ(sluice_strerror(SLUICE_ENOMEM), std::string("out of memory"));
  EXPECT_EQ(sluice_strerror(SLUICE_EINTERNAL), std::string("internal error"));
  sluice_close(seg);
}

TEST(CApiTest, OverflowingDurationsInSpecsAreRejected) {
  sluice::testing::ScopedNamespace ns("capidur");
  sluice_segment* seg = nullptr;
  ASSERT_EQ(sluice_open(ns.ns().c_str(), SLUICE_CREATE, &seg), SLUICE_OK);
  sluice_limiter* l = nullptr;
  for (const char* w :
       {"18446744074509551616ns", "18446744073709551617s", "184467440737095516161s"}) {
    const std::string spec = std::string("algorithm=\"sliding\"\nlimit=5\nwindow=\"") + w + "\"";
    EXPECT_EQ(sluice_define(seg, "x", spec.c_str(), &l), SLUICE_EINVAL) << w;
    EXPECT_NE(std::string(sluice_last_error()).find("too large"), std::string::npos)
        << sluice_last_error();
  }
  sluice_close(seg);
}

}  // namespace
