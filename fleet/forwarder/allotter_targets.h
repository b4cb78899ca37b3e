// Which allotter a forwarder asks when several run (docs/fleet.md,
// "Operations"): the one an allotter named as the leader, else the listed
// ones in turn. Not thread-safe.
#ifndef SLUICE_FLEET_FORWARDER_ALLOTTER_TARGETS_H_
#define SLUICE_FLEET_FORWARDER_ALLOTTER_TARGETS_H_

#include <string>
#include <vector>

namespace sluice::fleet {

class AllotterTargets {
 public:
  // REQUIRES: `listed` is not empty ([allotter] address, split at commas).
  explicit AllotterTargets(std::vector<std::string> listed);

  // The allotter to ask now.
  const std::string& current() const { return current_; }
  // current() answered.
  void Answered() { redirects_ = 0; }
  // current() did not answer: the next listed one.
  void Failed();
  // current() does not lead; `leader` is who it says does (empty: none
  // known). Returns true when the next try should go at once (to the leader
  // named), false when it should wait (nobody known: the next listed one).
  // Redirects in a row are bounded, so two allotters that name each other
  // cannot keep a forwarder spinning.
  bool NotLeader(const std::string& leader);

 private:
  std::vector<std::string> listed_;
  size_t next_ = 0;  // index in listed_ of the one after current_
  std::string current_;
  int redirects_ = 0;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_FORWARDER_ALLOTTER_TARGETS_H_
