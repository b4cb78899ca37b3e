#include "leadership.h"

#include <algorithm>
#include <limits>

namespace sluice::fleet {

Leadership::Leadership(AllotterConfig config, Allotter::Logger log)
    : config_(std::move(config)), log_(std::move(log)) {}

void Leadership::Replace(std::unique_ptr<Allotter> next) {
  if (allotter_) {
    const AllotterView v = allotter_->View(0);  // (the counters only)
    past_refreshes_ += v.refreshes;
    past_refused_ += v.refused;
  }
  allotter_ = std::move(next);
}

void Leadership::Lead(uint64_t epoch, int64_t now_ns, int64_t alive_ns, int64_t ttl_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  Replace(std::make_unique<Allotter>(config_, epoch, now_ns, log_));
  valid_until_ = alive_ns + Shrink(ttl_ns);
  leader_.clear();
  lapsed_logged_ = false;
  if (log_) log_("leading: epoch " + std::to_string(epoch) + ", learning what hosts hold");
}

void Leadership::LeadAlone(uint64_t epoch, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  Replace(std::make_unique<Allotter>(config_, epoch, now_ns, log_));
  valid_until_ = std::numeric_limits<int64_t>::max();
}

void Leadership::Renew(int64_t alive_ns, int64_t ttl_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!allotter_) return;
  const int64_t until = alive_ns + Shrink(ttl_ns);
  if (until > valid_until_) {
    if (lapsed_logged_ && log_) log_("leadership renewed: dividing again");
    lapsed_logged_ = false;
    valid_until_ = until;
  }
}

void Leadership::Follow(const std::string& leader) {
  std::lock_guard<std::mutex> lock(mu_);
  if (allotter_ && log_) log_("no longer leading: stopped dividing");
  Replace(nullptr);
  leader_ = leader;
}

StatusOr<RefreshOut> Leadership::Refresh(const RefreshIn& in, int64_t now_ns, std::string* leader) {
  std::lock_guard<std::mutex> lock(mu_);
  if (allotter_ && now_ns < valid_until_) return allotter_->Refresh(in, now_ns);
  if (allotter_ && !lapsed_logged_) {
    lapsed_logged_ = true;
    if (log_) log_("the election lease may have lapsed: not dividing until it is renewed");
  }
  if (leader) *leader = allotter_ ? std::string() : leader_;
  return Status(Code::kNotHeld, allotter_ || leader_.empty()
                                    ? "not the leader; no leader known"
                                    : "not the leader; the leader is " + leader_);
}

Status Leadership::Reconfigure(AllotterConfig next, int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  // Judged alike leading or not: a standby must not take a config its next
  // leadership would divide by although a leader refuses it.
  if (Status s = CheckReconfigure(config_, next); !s.ok()) return s;
  if (allotter_) {
    if (Status s = allotter_->Reconfigure(next, now_ns); !s.ok()) return s;
  }
  config_ = std::move(next);
  return Status::OK();
}

AllotterConfig Leadership::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

bool Leadership::Leading(int64_t now_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  return allotter_ && now_ns < valid_until_;
}

AllotterView Leadership::View(int64_t now_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  AllotterView v;
  if (allotter_) v = allotter_->View(now_ns);
  v.leading = allotter_ && now_ns < valid_until_;
  v.refreshes += past_refreshes_;
  v.refused += past_refused_;
  return v;
}

uint64_t Leadership::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allotter_ ? allotter_->epoch() : 0;
}

}  // namespace sluice::fleet
