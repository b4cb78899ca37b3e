#include "support/test_namespace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

namespace sluice::testing {

ScopedNamespace::ScopedNamespace(const std::string& tag) {
  static int counter = 0;
  ns_ = "t" + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" + tag;
  Segment::Remove(ns_);
}

ScopedNamespace::~ScopedNamespace() { Segment::Remove(ns_); }

Segment ScopedNamespace::Open(const OpenOptions& extra) const {
  OpenOptions o = extra;
  o.create = true;
  StatusOr<Segment> s = Segment::Open(ns_, o);
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    std::abort();
  }
  return *s;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

}  // namespace sluice::testing
