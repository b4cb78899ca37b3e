#include "campaigner.h"

#include <algorithm>
#include <chrono>

namespace sluice::fleet {

namespace {
constexpr int64_t kRetryMs = 500;  // after an error talking to the election
}  // namespace

Campaigner::Campaigner(Election* election, CampaignOptions options, Events events)
    : election_(election), options_(std::move(options)), events_(std::move(events)) {}

Campaigner::~Campaigner() { Stop(); }

void Campaigner::Log(const std::string& line) {
  if (events_.log) events_.log(line);
}

bool Campaigner::Wait(std::unique_lock<std::mutex>& lock, int64_t ms) {
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_; });
  return !stop_;
}

void Campaigner::Start() {
  campaign_thread_ = std::thread([this] { CampaignLoop(); });
  keep_thread_ = std::thread([this] { KeepLoop(); });
}

void Campaigner::Stop() {
  int64_t lease = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (leading_) {
      leading_ = false;
      events_.follow("");  // stop dividing before the lease goes
    }
    lease = lease_;
    cv_.notify_all();
  }
  if (lease != 0) election_->Revoke(lease);  // the next candidate leads at once
  election_->Cancel();
  if (campaign_thread_.joinable()) campaign_thread_.join();
  if (keep_thread_.joinable()) keep_thread_.join();
}

void Campaigner::CampaignLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t campaign_ms = std::max<int64_t>(10'000, 4'000 * options_.ttl_s);
  while (!stop_) {
    if (lease_ == 0) {
      lock.unlock();
      const int64_t sent = options_.clock();
      int64_t granted = 0;
      StatusOr<int64_t> id = election_->Grant(options_.ttl_s, &granted);
      lock.lock();
      if (stop_) break;
      if (!id.ok()) {
        Log("election: cannot get a lease: " + id.status().message());
        Wait(lock, kRetryMs);
        continue;
      }
      lease_ = *id;
      ttl_ns_ = std::max<int64_t>(granted, 1) * 1'000'000'000;
      alive_ns_ = sent;
    }
    const int64_t lease = lease_;
    lock.unlock();
    // Blocks while another leads; withdrawn and renewed after campaign_ms.
    StatusOr<LeaderKey> key = election_->Campaign(lease, options_.address, campaign_ms);
    StatusOr<uint64_t> epoch = Status(Code::kCancelled, "");
    if (key.ok()) {
      epoch = election_->ClaimEpoch(*key, options_.epoch_floor ? options_.epoch_floor() : 0);
    }
    lock.lock();
    if (stop_) break;
    if (!key.ok() || !epoch.ok()) {
      const Status& s = key.ok() ? epoch.status() : key.status();
      if (s.code() == Code::kTimeout) {
        // Campaign again under a new lease: etcd withdraws a cancelled
        // campaign by deleting its key (named after the lease) some time
        // after the cancel, which could delete the key of a new campaign
        // under the same lease, even after it won.
        if (lease_ == lease) lease_ = 0;
        lock.unlock();
        election_->Revoke(lease);
        lock.lock();
        continue;
      }
      Log("election: " + s.message());
      // kNotFound: the lease expired (a new one, at once); kNotHeld: won,
      // but the key went since (campaign again, at once).
      if (s.code() == Code::kNotFound) {
        if (lease_ == lease) lease_ = 0;
        continue;
      }
      if (s.code() == Code::kNotHeld) continue;
      Wait(lock, kRetryMs);
      continue;
    }
    if (lease_ != lease) continue;  // the lease expired meanwhile
    leading_ = true;
    followed_ = false;
    Log("elected: leading with epoch " + std::to_string(*epoch) + " (election revision " +
        std::to_string(key->rev) + ")");
    events_.lead(*epoch, alive_ns_, ttl_ns_);
    while (!stop_ && leading_) cv_.wait(lock);
  }
}

void Campaigner::KeepLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  bool failing = false;
  bool first = true;  // learns the leader at once
  while (true) {
    const int64_t period_ms =
        std::max<int64_t>(ttl_ns_ > 0 ? ttl_ns_ / 4'000'000 : options_.ttl_s * 250, 50);
    if (!Wait(lock, first ? 0 : period_ms)) break;
    first = false;
    const int64_t lease = lease_;
    const bool was_leading = leading_;
    lock.unlock();
    const int64_t sent = options_.clock();
    StatusOr<int64_t> ttl = Status(Code::kNotFound, "");
    if (lease != 0) ttl = election_->KeepAlive(lease);
    StatusOr<std::string> leader = Status(Code::kCancelled, "");
    if (!was_leading) leader = election_->Leader();
    lock.lock();
    if (stop_) break;
    if (lease != 0 && lease == lease_) {
      if (ttl.ok()) {
        if (failing) Log("election: lease renewed again");
        failing = false;
        alive_ns_ = sent;
        ttl_ns_ = *ttl * 1'000'000'000;
        if (leading_) events_.renew(alive_ns_, ttl_ns_);
      } else if (ttl.status().code() == Code::kNotFound) {
        Log("election: the lease expired");
        lease_ = 0;
        failing = false;
        if (leading_) {
          leading_ = false;
          leader_.clear();
          followed_ = true;
          events_.follow("");
          cv_.notify_all();  // campaign again
        }
      } else if (!failing) {
        failing = true;
        Log("election: cannot renew the lease: " + ttl.status().message());
      }
    }
    if (!leading_ && !was_leading) {
      std::string now_leader;
      if (leader.ok()) {
        now_leader = *leader;
      } else if (leader.status().code() != Code::kNotFound) {
        continue;  // unknown: keep what we had
      }
      if (!followed_ || now_leader != leader_) {
        followed_ = true;
        leader_ = now_leader;
        Log(now_leader.empty() ? "election: no leader" : "following the leader at " + now_leader);
        events_.follow(now_leader);
      }
    }
  }
}

}  // namespace sluice::fleet
