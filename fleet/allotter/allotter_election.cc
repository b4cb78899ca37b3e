#include "allotter_election.h"

#include <time.h>

#include <cstdlib>

#include "campaigner.h"
#include "etcd_election.h"
#include "sluice/admin/budget_file.h"

namespace sluice::fleet {

namespace {

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

const char kElectionUsage[] =
    "                       [--etcd URL[,URL...] [--advertise HOST:PORT] [--election NAME]\n"
    "                        [--election-ttl SECONDS]]\n";
const char kElectionHelp[] =
    "--etcd: campaign for leadership in etcd's election NAME (default sluice-allotter)\n"
    "with a lease of --election-ttl seconds (default 5); only the leader divides, the\n"
    "others point forwarders to it (--advertise: this allotter's address for them,\n"
    "default the listen address).\n";

bool ParseElectionFlag(int argc, char** argv, int* i, ElectionFlags* f, std::string* error) {
  const std::string a = argv[*i];
  if (a != "--etcd" && a != "--advertise" && a != "--election" && a != "--election-ttl") {
    return false;
  }
  if (*i + 1 >= argc) {
    *error = a + " needs a value";
    return true;
  }
  const std::string v = argv[++*i];
  if (a == "--etcd") f->etcd = v;
  if (a == "--advertise") {
    f->advertise = v;
    if (!ValidHostPort(v)) *error = "--advertise must be host:port (port 1..65535)";
  }
  if (a == "--election") {
    f->name = v;
    if (v.empty() || v.find('/') != std::string::npos) {
      *error = "--election must be a non-empty name without '/'";
    }
  }
  if (a == "--election-ttl") {
    char* end = nullptr;
    f->ttl_s = std::strtoll(v.c_str(), &end, 10);
    if (*end != '\0' || f->ttl_s < 1 || f->ttl_s > 3600) {
      *error = "--election-ttl must be whole seconds, 1..3600";
    }
  }
  return true;
}

StatusOr<std::unique_ptr<AllotterElection>> AllotterElection::Create(const ElectionFlags& flags,
                                                                     Leadership* leadership,
                                                                     Logger log) {
  StatusOr<std::vector<std::string>> eps = EtcdElection::ParseEndpoints(flags.etcd);
  if (!eps.ok()) return Status(Code::kInvalidArgument, "--etcd: " + eps.status().message());
  std::unique_ptr<AllotterElection> e(new AllotterElection());
  e->flags_ = flags;
  e->leadership_ = leadership;
  e->log_ = std::move(log);
  e->election_ = std::make_unique<EtcdElection>(std::move(*eps), flags.name);
  return e;
}

AllotterElection::~AllotterElection() { Stop(); }

void AllotterElection::Start(const std::string& bound) {
  CampaignOptions co;
  co.address = flags_.advertise.empty() ? bound : flags_.advertise;
  co.ttl_s = flags_.ttl_s;
  co.epoch_floor = NewEpoch;
  co.clock = MonotonicNs;
  Leadership* l = leadership_;
  Campaigner::Events ev;
  ev.lead = [l](uint64_t epoch, int64_t alive, int64_t ttl) {
    l->Lead(epoch, MonotonicNs(), alive, ttl);
  };
  ev.renew = [l](int64_t alive, int64_t ttl) { l->Renew(alive, ttl); };
  ev.follow = [l](const std::string& leader) { l->Follow(leader); };
  ev.log = log_;
  campaigner_ = std::make_unique<Campaigner>(election_.get(), co, ev);
  if (log_) log_("campaigning in etcd election " + flags_.name + " as " + co.address);
  campaigner_->Start();
}

void AllotterElection::Stop() {
  if (campaigner_) campaigner_->Stop();
}

}  // namespace sluice::fleet
