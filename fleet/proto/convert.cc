#include "convert.h"

namespace sluice::fleet {
namespace {

v1::Algorithm ToProto(Algorithm a) {
  switch (a) {
    case Algorithm::kGcra:
      return v1::GCRA;
    case Algorithm::kWindow:
      return v1::WINDOW;
    case Algorithm::kSliding:
      return v1::SLIDING;
    case Algorithm::kLease:
      return v1::LEASE;
  }
  return v1::ALGORITHM_UNSPECIFIED;
}

// An unknown value maps to 0, which matches no configured algorithm.
Algorithm FromProto(v1::Algorithm a) {
  switch (a) {
    case v1::GCRA:
      return Algorithm::kGcra;
    case v1::WINDOW:
      return Algorithm::kWindow;
    case v1::SLIDING:
      return Algorithm::kSliding;
    case v1::LEASE:
      return Algorithm::kLease;
    default:
      return static_cast<Algorithm>(0);
  }
}

}  // namespace

void ToProto(const RefreshIn& in, const std::string& token, v1::RefreshRequest* out) {
  out->set_protocol(kProtocol);
  out->set_host_id(in.host_id);
  out->set_instance(in.instance);
  out->set_sequence(in.sequence);
  out->set_weight(in.weight);
  out->set_token(token);
  out->set_age_ns(in.age_ns);
  for (const ResourceIn& r : in.resources) {
    v1::ResourceReport* p = out->add_resources();
    p->set_name(r.name);
    p->set_algorithm(ToProto(r.algorithm));
    p->set_demand(r.demand);
    p->set_in_force(r.in_force);
    p->set_share_amount(r.share_amount);
    p->set_lease_left_ns(r.lease_left_ns);
    p->set_fallback_amount(r.fallback_amount);
    p->set_fallback_left_ns(r.fallback_left_ns);
    p->set_drained_in_ns(r.drained_in_ns);
    p->set_share_epoch(r.share_epoch);
    p->set_applied_sequence(r.applied_sequence);
    p->set_cap(r.cap);
  }
}

RefreshIn FromProto(const v1::RefreshRequest& in) {
  RefreshIn out;
  out.host_id = in.host_id();
  out.instance = in.instance();
  out.sequence = in.sequence();
  out.weight = in.weight() == 0 ? 1 : in.weight();
  out.age_ns = in.age_ns();
  out.resources.reserve(static_cast<size_t>(in.resources_size()));
  for (const v1::ResourceReport& p : in.resources()) {
    ResourceIn r;
    r.name = p.name();
    r.algorithm = FromProto(p.algorithm());
    r.demand = p.demand();
    r.in_force = p.in_force();
    r.share_amount = p.share_amount();
    r.lease_left_ns = p.lease_left_ns();
    r.fallback_amount = p.fallback_amount();
    r.fallback_left_ns = p.fallback_left_ns();
    r.drained_in_ns = p.drained_in_ns();
    r.share_epoch = p.share_epoch();
    r.applied_sequence = p.applied_sequence();
    r.cap = p.cap();
    out.resources.push_back(std::move(r));
  }
  return out;
}

void ToProto(const RefreshOut& in, v1::RefreshReply* out) {
  out->set_protocol(kProtocol);
  out->set_epoch(in.epoch);
  out->set_refresh_interval_ns(in.refresh_ns);
  out->set_learning(in.learning);
  for (const ResourceOut& r : in.resources) {
    v1::ResourceShare* p = out->add_resources();
    p->set_name(r.name);
    p->set_error(r.error);
    p->set_amount(r.amount);
    p->set_burst(r.burst);
    p->set_lease_ns(r.lease_ns);
    p->set_fallback_amount(r.fallback_amount);
    p->set_fallback_burst(r.fallback_burst);
    p->set_fallback_for_ns(r.fallback_for_ns);
    p->set_refresh_interval_ns(r.refresh_ns);
    p->set_epoch(r.epoch);
  }
}

RefreshOut FromProto(const v1::RefreshReply& in) {
  RefreshOut out;
  out.epoch = in.epoch();
  out.refresh_ns = in.refresh_interval_ns();
  out.learning = in.learning();
  for (const v1::ResourceShare& p : in.resources()) {
    ResourceOut r;
    r.name = p.name();
    r.error = p.error();
    r.amount = p.amount();
    r.burst = p.burst();
    r.lease_ns = p.lease_ns();
    r.fallback_amount = p.fallback_amount();
    r.fallback_burst = p.fallback_burst();
    r.fallback_for_ns = p.fallback_for_ns();
    r.refresh_ns = p.refresh_interval_ns();
    r.epoch = p.epoch();
    out.resources.push_back(std::move(r));
  }
  return out;
}

}  // namespace sluice::fleet
