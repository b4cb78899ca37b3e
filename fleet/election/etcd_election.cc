#include "etcd_election.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "base64.h"

namespace sluice::fleet {

namespace {

using nlohmann::json;

constexpr int64_t kCallTimeoutMs = 2000;  // every call but the campaign

// j[path[0]][path[1]]..., or null.
const json* At(const json& j, std::initializer_list<const char*> path) {
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object()) return nullptr;
    auto it = p->find(k);
    if (it == p->end()) return nullptr;
    p = &*it;
  }
  return p;
}

// The gateway writes int64 as a JSON string ("12"); a missing one is 0.
int64_t Int(const json& j, std::initializer_list<const char*> path) {
  const json* v = At(j, path);
  if (!v) return 0;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_string()) return std::strtoll(v->get<std::string>().c_str(), nullptr, 10);
  return 0;
}

std::string Str(const json& j, std::initializer_list<const char*> path) {
  const json* v = At(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

StatusOr<json> Parse(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInternal, "etcd: unreadable reply: " + body.substr(0, 200));
  }
  return j;
}

void SetTimeout(httplib::Client* c, int64_t ms) {
  c->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  c->set_write_timeout(ms / 1000, (ms % 1000) * 1000);
}

}  // namespace

StatusOr<std::vector<std::string>> EtcdElection::ParseEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= list.size()) {
    const size_t comma = std::min(list.find(',', from), list.size());
    const std::string ep = list.substr(from, comma - from);
    const size_t colon = ep.rfind(':');
    const bool ok = ep.rfind("http://", 0) == 0 && colon != std::string::npos && colon > 7 &&
                    colon + 1 < ep.size() &&
                    ep.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
                    std::atoi(ep.c_str() + colon + 1) > 0 &&
                    std::atoi(ep.c_str() + colon + 1) < 65536;
    if (!ok) {
      return Status(Code::kInvalidArgument, "etcd endpoint '" + ep + "' is not http://host:port");
    }
    out.push_back(ep);
    from = comma + 1;
  }
  return out;
}

EtcdElection::EtcdElection(std::vector<std::string> endpoints, std::string name)
    : endpoints_(std::move(endpoints)), name_(std::move(name)) {}

EtcdElection::~EtcdElection() = default;

StatusOr<std::string> EtcdElection::Post(const std::string& path, const std::string& body,
                                         int64_t timeout_ms, bool cancellable) {
  if (cancelled_.load()) return Status(Code::kCancelled, "cancelled");
  std::string why = "no endpoint";
  const size_t first = preferred_.load();
  for (size_t n = 0; n < endpoints_.size(); ++n) {
    const size_t i = (first + n) % endpoints_.size();
    httplib::Client cli(endpoints_[i]);
    cli.set_connection_timeout(1, 0);
    SetTimeout(&cli, timeout_ms);
    if (cancellable) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_.load()) return Status(Code::kCancelled, "cancelled");
      campaign_ = &cli;
    }
    const auto t0 = std::chrono::steady_clock::now();
    httplib::Result res = cli.Post(path.c_str(), body, "application/json");
    if (cancellable) {
      std::lock_guard<std::mutex> lock(mu_);
      campaign_ = nullptr;
    }
    if (cancelled_.load()) return Status(Code::kCancelled, "cancelled");
    if (!res) {
      if (res.error() == httplib::Error::Read) {
        // The gateway sends its error replies chunked with HTTP trailers,
        // which cpp-httplib 0.11 cannot read: an early read error is one.
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        if (ms + 100 < timeout_ms) return Status(Code::kIo, "etcd " + path + ": refused");
        return Status(Code::kTimeout, "etcd " + endpoints_[i] + path + ": no answer in time");
      }
      why = endpoints_[i] + ": " + httplib::to_string(res.error());
      continue;  // the next endpoint
    }
    preferred_.store(i);
    if (res->status == 200) return res->body;
    StatusOr<json> j = Parse(res->body);
    const std::string msg = j.ok() ? Str(*j, {"error"}) : res->body.substr(0, 200);
    const bool gone =
        msg.find("not found") != std::string::npos || msg.find("no leader") != std::string::npos;
    return Status(gone ? Code::kNotFound : Code::kIo, "etcd " + path + ": " + msg);
  }
  return Status(Code::kIo, "etcd unreachable (" + why + ")");
}

StatusOr<int64_t> EtcdElection::Grant(int64_t ttl_s, int64_t* granted_s) {
  StatusOr<std::string> r =
      Post("/v3/lease/grant", json{{"TTL", ttl_s}}.dump(), kCallTimeoutMs, false);
  if (!r.ok()) return r.status();
  StatusOr<json> j = Parse(*r);
  if (!j.ok()) return j.status();
  const int64_t id = Int(*j, {"ID"});
  if (id == 0) return Status(Code::kIo, "etcd: lease grant refused: " + Str(*j, {"error"}));
  if (granted_s) *granted_s = Int(*j, {"TTL"});
  return id;
}

StatusOr<int64_t> EtcdElection::KeepAlive(int64_t lease) {
  StatusOr<std::string> r = Post("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump(),
                                 kCallTimeoutMs, false);
  if (!r.ok()) return r.status();
  StatusOr<json> j = Parse(*r);
  if (!j.ok()) return j.status();
  const int64_t ttl = Int(*j, {"result", "TTL"});
  if (ttl <= 0) return Status(Code::kNotFound, "etcd: lease expired");
  return ttl;
}

StatusOr<LeaderKey> EtcdElection::Campaign(int64_t lease, const std::string& value,
                                           int64_t timeout_ms) {
  const json body{{"name", Base64Encode(name_)},
                  {"lease", std::to_string(lease)},
                  {"value", Base64Encode(value)}};
  StatusOr<std::string> r = Post("/v3/election/campaign", body.dump(), timeout_ms, true);
  if (!r.ok()) return r.status();
  StatusOr<json> j = Parse(*r);
  if (!j.ok()) return j.status();
  LeaderKey k;
  StatusOr<std::string> key = Base64Decode(Str(*j, {"leader", "key"}));
  if (!key.ok() || key->empty()) return Status(Code::kIo, "etcd: campaign without a key");
  k.key = *key;
  k.rev = Int(*j, {"leader", "rev"});
  k.lease = Int(*j, {"leader", "lease"});
  return k;
}

// The leader is the candidate key under "NAME/" created first (what
// /v3/election/leader answers, read as a range: its "no leader" error reply
// is one cpp-httplib cannot read).
StatusOr<std::string> EtcdElection::Leader() {
  const std::string prefix = name_ + "/";
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  const json range{{"key", Base64Encode(prefix)},
                   {"range_end", Base64Encode(end)},
                   {"limit", "1"},
                   {"sort_order", "ASCEND"},
                   {"sort_target", "CREATE"}};
  StatusOr<std::string> r = Post("/v3/kv/range", range.dump(), kCallTimeoutMs, false);
  if (!r.ok()) return r.status();
  StatusOr<json> j = Parse(*r);
  if (!j.ok()) return j.status();
  const json* kvs = At(*j, {"kvs"});
  if (!kvs || !kvs->is_array() || kvs->empty()) return Status(Code::kNotFound, "no leader");
  return Base64Decode(Str((*kvs)[0], {"value"}));
}

StatusOr<uint64_t> EtcdElection::ClaimEpoch(const LeaderKey& key, uint64_t floor) {
  const std::string epoch_key = Base64Encode(name_ + "-epoch");
  StatusOr<std::string> r =
      Post("/v3/kv/range", json{{"key", epoch_key}}.dump(), kCallTimeoutMs, false);
  if (!r.ok()) return r.status();
  StatusOr<json> j = Parse(*r);
  if (!j.ok()) return j.status();
  uint64_t last = 0;
  int64_t mod = 0;
  const json* kvs = At(*j, {"kvs"});
  if (kvs && kvs->is_array() && !kvs->empty()) {
    StatusOr<std::string> v = Base64Decode(Str((*kvs)[0], {"value"}));
    if (v.ok()) last = std::strtoull(v->c_str(), nullptr, 10);
    mod = Int((*kvs)[0], {"mod_revision"});
  }
  const uint64_t epoch = std::max(floor, last + 1);
  // Written only while `key` leads, and only over what was read.
  const json txn{
      {"compare", json::array({json{{"result", "EQUAL"},
                                    {"target", "CREATE"},
                                    {"key", Base64Encode(key.key)},
                                    {"create_revision", std::to_string(key.rev)}},
                               json{{"result", "EQUAL"},
                                    {"target", "MOD"},
                                    {"key", epoch_key},
                                    {"mod_revision", std::to_string(mod)}}})},
      {"success",
       json::array({json{{"request_put", json{{"key", epoch_key},
                                              {"value", Base64Encode(std::to_string(epoch))}}}}})}};
  r = Post("/v3/kv/txn", txn.dump(), kCallTimeoutMs, false);
  if (!r.ok()) return r.status();
  j = Parse(*r);
  if (!j.ok()) return j.status();
  const json* ok = At(*j, {"succeeded"});
  if (!ok || !ok->is_boolean() || !ok->get<bool>()) {
    return Status(Code::kNotHeld, "no longer the leader (or another leader's epoch moved)");
  }
  return epoch;
}

Status EtcdElection::Revoke(int64_t lease) {
  StatusOr<std::string> r =
      Post("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump(), kCallTimeoutMs, false);
  return r.ok() ? Status::OK() : r.status();
}

void EtcdElection::Cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (campaign_) campaign_->stop();
}

}  // namespace sluice::fleet
