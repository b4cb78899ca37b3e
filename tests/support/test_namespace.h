// Test helpers: a unique segment namespace per test, removed in teardown
// (like ninja's ScopedTempDir), and waiting on a condition with a deadline.
#ifndef SLUICE_TESTS_SUPPORT_TEST_NAMESPACE_H_
#define SLUICE_TESTS_SUPPORT_TEST_NAMESPACE_H_

#include <chrono>
#include <functional>
#include <string>

#include "sluice/segment.h"

namespace sluice::testing {

// Creates "t<pid>-<counter>-<tag>" and removes /dev/shm/sluice.<ns> on
// destruction. Not thread-safe.
class ScopedNamespace {
 public:
  explicit ScopedNamespace(const std::string& tag = "x");
  ~ScopedNamespace();
  const std::string& ns() const { return ns_; }
  // Opens (creating) the segment; aborts the test on failure.
  Segment Open(const OpenOptions& extra = {}) const;

 private:
  std::string ns_;
};

// Polls `cond` every millisecond until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

}  // namespace sluice::testing

#endif  // SLUICE_TESTS_SUPPORT_TEST_NAMESPACE_H_
