// sluice-allotter --config FILE [--metrics HOST:PORT] [--etcd URLS ...]: the
// gRPC shell over the Allotter library; with --etcd, one of several that
// campaign for leadership (only the leader divides; allotter_election.h).
// Exit 2 with one clear line on a bad config or command line, 1 when the
// address cannot be bound.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "allotter.h"
#include "allotter_election.h"
#include "allotter_status.h"
#include "convert.h"
#include "leadership.h"
#include "sluice_fleet.grpc.pb.h"

namespace sluice::fleet {
namespace {

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void LogLine(const std::string& line) {
  std::fprintf(stderr, "sluice-allotter: %s\n", line.c_str());
  std::fflush(stderr);
}

grpc::StatusCode ToGrpc(Code c) {
  switch (c) {
    case Code::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Code::kExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case Code::kNotHeld:  // not the leader
      return grpc::StatusCode::UNAVAILABLE;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

class Service final : public v1::Allotter::Service {
 public:
  Service(Leadership* leadership, std::string token)
      : leadership_(leadership), token_(std::move(token)) {}

  grpc::Status Refresh(grpc::ServerContext* ctx, const v1::RefreshRequest* req,
                       v1::RefreshReply* reply) override {
    if (!token_.empty() && !SameToken(req->token())) {
      LogLine("refused a refresh: bad token");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token");
    }
    const RefreshIn in = FromProto(*req);
    std::string leader;  // set when another allotter leads
    StatusOr<RefreshOut> out = leadership_->Refresh(in, MonotonicNs(), &leader);
    if (!leader.empty()) ctx->AddTrailingMetadata(kLeaderMetadata, leader);
    if (!out.ok()) return grpc::Status(ToGrpc(out.status().code()), out.status().message());
    ToProto(*out, reply);
    return grpc::Status::OK;
  }

 private:
  bool SameToken(const std::string& t) const {
    unsigned char diff = t.size() == token_.size() ? 0 : 1;
    for (size_t i = 0; i < token_.size(); ++i) {
      diff |= static_cast<unsigned char>(token_[i] ^ (i < t.size() ? t[i] : 0));
    }
    return diff == 0;
  }

  Leadership* leadership_;  // thread-safe
  std::string token_;
};

int Usage() {
  std::fputs("usage: sluice-allotter --config FILE [--metrics HOST:PORT]\n", stderr);
  std::fputs(kElectionUsage, stderr);
  return 2;
}

int Main(int argc, char** argv) {
  // SIGTERM / SIGINT: stop serving and exit 0 (blocked before any thread
  // starts, then taken by sigwait).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::string config_path;
  std::string metrics_flag;
  ElectionFlags election_flags;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string flag_error;
    if (ParseElectionFlag(argc, argv, &i, &election_flags, &flag_error)) {
      if (!flag_error.empty()) {
        std::fprintf(stderr, "sluice-allotter: %s\n", flag_error.c_str());
        return 2;
      }
    } else if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--metrics" && i + 1 < argc) {
      metrics_flag = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::fputs(
          "usage: sluice-allotter --config FILE [--metrics HOST:PORT]\n"
          "Divides each fleet-wide limit of FILE (allotter.toml, docs/fleet.md) among the\n"
          "hosts whose sluice-forwarder refreshes here. Logs to stderr. --metrics serves\n"
          "Prometheus metrics at /metrics and a status page at / on HOST:PORT.\n",
          stdout);
      std::fputs(kElectionHelp, stdout);
      return 0;
    } else {
      return Usage();
    }
  }
  if (config_path.empty()) return Usage();
  StatusOr<metrics::ListenAddress> metrics_addr = metrics::ListenAddress{};
  if (!metrics_flag.empty()) metrics_addr = metrics::ParseListenAddress(metrics_flag);
  if (!metrics_addr.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s\n", metrics_addr.status().message().c_str());
    return 2;
  }
  StatusOr<AllotterConfig> cfg = LoadAllotterConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s\n", cfg.status().message().c_str());
    return 2;
  }
  for (const std::string& w : cfg->warnings) LogLine("warning: " + w);
  std::string token;
  if (!cfg->token_file.empty()) {
    std::ifstream f(cfg->token_file);
    if (!f) {
      std::fprintf(stderr, "sluice-allotter: %s: cannot read token_file\n",
                   cfg->token_file.c_str());
      return 2;
    }
    std::getline(f, token);
  }
  const std::string listen = cfg->listen;
  Leadership leadership(std::move(*cfg), LogLine);
  std::unique_ptr<AllotterElection> election;
  if (!election_flags.etcd.empty()) {
    StatusOr<std::unique_ptr<AllotterElection>> e =
        AllotterElection::Create(election_flags, &leadership, LogLine);
    if (!e.ok()) {
      std::fprintf(stderr, "sluice-allotter: %s\n", e.status().message().c_str());
      return 2;
    }
    election = std::move(*e);
  }
  Service service(&leadership, token);
  metrics::AllotterStatus status([&](int64_t now) { return leadership.View(now); }, MonotonicNs);
  if (!metrics_flag.empty()) {
    const Status st = status.Start(*metrics_addr);
    if (!st.ok()) {
      std::fprintf(stderr, "sluice-allotter: %s\n", st.message().c_str());
      return 1;
    }
    LogLine("metrics on " + metrics_addr->host + ":" + std::to_string(status.port()));
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(4 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "sluice-allotter: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  for (const ResourceConfig& r : leadership.config().resources) {
    LogLine("resource " + r.name + ": " + r.spec.Describe() +
            " division=" + DivisionName(r.division) + " reserved=" + std::to_string(r.reserved));
  }
  const std::string bound = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  if (election) {
    LogLine("listening on " + bound);
    election->Start(bound);
  } else {
    const uint64_t epoch = NewEpoch();
    leadership.LeadAlone(epoch, MonotonicNs());
    LogLine("listening on " + bound + ", epoch " + std::to_string(epoch) +
            ", learning what hosts hold");
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    LogLine(std::string("stopping (") + strsignal(sig) + ")");
    if (election) election->Stop();  // stops dividing, then hands over
    // Calls in flight get a moment to finish, then are cancelled.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  });
  server->Wait();
  waiter.join();
  status.Stop();
  return 0;
}

}  // namespace
}  // namespace sluice::fleet

int main(int argc, char** argv) { return sluice::fleet::Main(argc, argv); }
