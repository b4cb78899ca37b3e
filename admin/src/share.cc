// Fleet shares over the core's slots (lib/src/slot_table.cc PublishShare,
// params.h ShareState): validation, lookup by name, the forwarder's figures.
#include "sluice/admin/share.h"

#include <string>

#include "admin_access.h"

namespace sluice::admin {
namespace {

// The slot index of live limiter `name`.
StatusOr<uint32_t> IndexOf(const Segment& seg, std::string_view name) {
  for (const admin_access::SlotEntry& e : admin_access::ListSlots(seg)) {
    if (e.use == admin_access::SlotUse::kLive && e.name == name) return e.index;
  }
  return Status(Code::kNotFound,
                "no limiter '" + std::string(name) + "' in namespace '" + seg.ns() + "'");
}

uint64_t MaxAmount(Algorithm a) {
  switch (a) {
    case Algorithm::kGcra:
      return kMaxRate;
    case Algorithm::kWindow:
      return kMaxWindowLimit;
    case Algorithm::kSliding:
      return kMaxSlidingLimit;
    case Algorithm::kLease:
      return kMaxHolders;
  }
  return 0;
}

Status Bad(std::string_view name, const std::string& why) {
  return Status(Code::kInvalidArgument, "share for '" + std::string(name) + "': " + why);
}

// Global limiter `name`: its slot and share as of now.
struct Found {
  uint32_t index = 0;
  admin_access::ShareView view;
};
StatusOr<Found> FindGlobal(const Segment& seg, std::string_view name) {
  StatusOr<uint32_t> index = IndexOf(seg, name);
  if (!index.ok()) return index.status();
  StatusOr<admin_access::ShareView> v = admin_access::ReadShare(seg, *index, MonotonicNowNs());
  if (!v.ok()) return v.status();
  if (!v->declared.global) {
    return Bad(name, "'" + std::string(name) + "' is not a global limiter (global = true)");
  }
  return Found{*index, *v};
}

}  // namespace

uint64_t AmountOf(const LimiterSpec& spec) {
  return spec.algorithm == Algorithm::kGcra ? spec.rate : spec.Capacity();
}

const char* ShareStageName(ShareStage s) {
  switch (s) {
    case ShareStage::kNone:
      return "none";
    case ShareStage::kShare:
      return "share";
    case ShareStage::kFallback:
      return "fallback";
    case ShareStage::kLapsed:
      return "lapsed";
  }
  return "?";
}

Status PublishShare(const Segment& seg, std::string_view name, const Share& share) {
  if (seg.read_only()) return Status(Code::kPermission, "segment is mapped read-only");
  StatusOr<Found> found = FindGlobal(seg, name);
  if (!found.ok()) return found.status();
  const admin_access::ShareView* v = &found->view;
  const Algorithm a = v->declared.algorithm;
  for (uint64_t amount : {share.amount, share.fallback_amount}) {
    if (amount > MaxAmount(a)) {
      return Bad(name, "amount " + std::to_string(amount) + " is above the most a " +
                           AlgorithmName(a) + " limiter allows (" + std::to_string(MaxAmount(a)) +
                           ")");
    }
  }
  if (a != Algorithm::kGcra && (share.burst != 0 || share.fallback_burst != 0)) {
    return Bad(name, "a burst applies to gcra limiters only");
  }
  for (uint64_t burst : {share.burst, share.fallback_burst}) {
    if (burst > (uint64_t{1} << 40)) return Bad(name, "burst is above 2^40");
  }
  if (a == Algorithm::kGcra) {
    // The same range check a definition gets (burst * period / rate).
    for (auto [amount, burst] :
         {std::pair{share.amount, share.burst}, {share.fallback_amount, share.fallback_burst}}) {
      if (amount == 0 || burst == 0) continue;
      LimiterSpec s = LimiterSpec::Gcra(amount, v->declared.period_ns, burst);
      if (Status st = s.Validate(); !st.ok()) return Bad(name, st.message());
    }
  }
  const int64_t kFar = INT64_MAX / 2;
  if ((share.expires_ns != kForever && (share.expires_ns > kFar || share.expires_ns < -kFar)) ||
      (share.fallback_until_ns != kForever &&
       (share.fallback_until_ns > kFar || share.fallback_until_ns < -kFar))) {
    return Bad(name, "a share or fallback end out of range");
  }
  if (share.fallback_amount > 0 && share.fallback_until_ns < share.expires_ns) {
    return Bad(name, "the fallback ends before the share does");
  }
  admin_access::ShareInput in;
  in.amount = share.amount;
  in.burst = share.burst;
  in.expires_ns = share.expires_ns;
  in.fallback_amount = share.fallback_amount;
  in.fallback_burst = share.fallback_burst;
  in.fallback_until_ns = share.fallback_amount > 0 ? share.fallback_until_ns : 0;
  in.epoch = share.epoch;
  return admin_access::PublishShare(seg, found->index, in, MonotonicNowNs());
}

StatusOr<FleetFigures> ReadFleet(const Segment& seg, std::string_view name) {
  StatusOr<Found> found = FindGlobal(seg, name);
  if (!found.ok()) return found.status();
  const admin_access::ShareView* v = &found->view;
  FleetFigures f;
  f.stage = static_cast<ShareStage>(v->stage);
  f.spec = v->in_force;
  f.cap = AmountOf(v->declared);
  f.share.amount = v->share_amount;
  f.share.burst = v->share_burst;
  f.share.expires_ns = v->share_expires_ns;
  f.share.fallback_amount = v->fallback_amount;
  f.share.fallback_burst = v->fallback_burst;
  f.share.fallback_until_ns = v->fallback_until_ns;
  f.share.epoch = v->epoch;
  f.epoch = v->epoch;
  f.drained_ns = v->drained_ns;
  f.demand = double(v->demand_milli) / 1000.0;
  f.changes = v->changes;
  StatusOr<Limiter> l = seg.Find(name);
  if (l.ok()) {
    const LimiterStats s = l->stats();
    f.asked = s.asked;
    f.granted = s.granted;
  }
  return f;
}

}  // namespace sluice::admin
