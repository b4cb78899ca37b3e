// The real HostLimiters, over admin/include/sluice/admin/share.h.
#include <time.h>

#include "host_limiters.h"
#include "sluice/segment.h"

namespace sluice::fleet {
namespace {

class SegmentHostLimiters : public HostLimiters {
 public:
  explicit SegmentHostLimiters(Segment seg) : seg_(std::move(seg)) {}

  int64_t Now() override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }

  StatusOr<LimiterFigures> Read(const std::string& name) override {
    StatusOr<admin::FleetFigures> f = admin::ReadFleet(seg_, name);
    if (!f.ok()) return f.status();
    LimiterFigures out;
    out.algorithm = f->spec.algorithm;
    out.demand = f->demand;
    out.has_asked = true;
    out.asked = f->asked;
    out.in_force = AmountOf(f->spec);
    out.cap = f->cap;
    out.share = f->share;
    out.drained_ns = f->drained_ns;
    return out;
  }

  Status Publish(const std::string& name, const admin::Share& share) override {
    return admin::PublishShare(seg_, name, share);
  }

 private:
  Segment seg_;
};

}  // namespace

std::unique_ptr<HostLimiters> SegmentLimiters(const std::string& ns, Status* status) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) {
    *status = seg.status();
    return nullptr;
  }
  *status = Status::OK();
  return std::make_unique<SegmentHostLimiters>(std::move(*seg));
}

}  // namespace sluice::fleet
