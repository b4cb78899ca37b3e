#include "allotter_targets.h"

#include <cassert>

namespace sluice::fleet {

AllotterTargets::AllotterTargets(std::vector<std::string> listed) : listed_(std::move(listed)) {
  assert(!listed_.empty());
  current_ = listed_[0];
  next_ = 1 % listed_.size();
}

void AllotterTargets::Failed() {
  redirects_ = 0;
  current_ = listed_[next_];
  next_ = (next_ + 1) % listed_.size();
}

bool AllotterTargets::NotLeader(const std::string& leader) {
  if (!leader.empty() && leader != current_ && redirects_ < static_cast<int>(listed_.size()) + 1) {
    ++redirects_;
    current_ = leader;
    return true;
  }
  Failed();
  return false;
}

}  // namespace sluice::fleet
