// sluice-allotter --config FILE [--metrics HOST:PORT] [--etcd URLS ...]: the
// gRPC shell over the Allotter library; with --etcd, one of several that
// campaign for leadership (only the leader divides; allotter_election.h).
// Exit 2 with one clear line on a bad config or command line, 1 when the
// address cannot be bound. SIGHUP reloads the config (kept on error);
// SIGTERM / SIGINT stop serving and exit 0.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "allotter.h"
#include "allotter_election.h"
#include "allotter_status.h"
#include "convert.h"
#include "leadership.h"
#include "log.h"
#include "server_limits.h"
#include "service_notify.h"
#include "sluice_fleet.grpc.pb.h"
#include "tls.h"
#include "token.h"

namespace sluice::fleet {
namespace {

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void LogLine(const std::string& line) { Log(LogLevel::kInfo, line); }

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
    const RefreshIn in = FromProto(*req);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!token_.empty() && !SameToken(token_, req->token())) {
        // Counted; logged at the 1st, 2nd, 4th, 8th, ... refusal (a flood of
        // bad calls must not flood the log).
        const uint64_t n = ++refused_;
        if ((n & (n - 1)) == 0) {
          Log(LogLevel::kWarn, "refused a refresh from " + ctx->peer() + ": bad token (" +
                                   std::to_string(n) + " refused so far)");
        }
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token");
      }
    }
    std::string leader;  // set when another allotter leads
    StatusOr<RefreshOut> out = leadership_->Refresh(in, MonotonicNs(), &leader);
    if (!leader.empty()) ctx->AddTrailingMetadata(kLeaderMetadata, leader);
    if (!out.ok()) return grpc::Status(ToGrpc(out.status().code()), out.status().message());
    ToProto(*out, reply);
    return grpc::Status::OK;
  }

  // Refreshes refused for their token (the metrics' `refused` counts them
  // with the allotter's own refusals).
  uint64_t token_refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

  // SIGHUP: a new config and token, applied together (the old kept on error).
  Status Reload(AllotterConfig next, std::string token) {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status s = leadership_->Reconfigure(std::move(next), MonotonicNs()); !s.ok()) return s;
    token_ = std::move(token);
    return Status::OK();
  }

 private:
  Leadership* leadership_;  // thread-safe
  std::mutex mu_;           // guards token_ and refused_
  std::string token_;       // empty: --insecure
  uint64_t refused_ = 0;    // calls refused for their token
};

constexpr const char* kUsage =
    "usage: sluice-allotter --config FILE [--insecure] [--metrics HOST:PORT]\n"
    "                       [--log-level LEVEL] [--log-json]\n";

int Usage() {
  std::fputs(kUsage, stderr);
  std::fputs(kElectionUsage, stderr);
  return 2;
}

// The token the config names, permissions checked; "" with --insecure and
// no token_file. Errors name the file.
StatusOr<std::string> TokenFor(const AllotterConfig& cfg, bool insecure) {
  if (cfg.token_file.empty()) {
    if (insecure) return std::string();
    return Status(Code::kInvalidArgument,
                  cfg.source + ": token_file is required (or start with --insecure)");
  }
  return ReadTokenFile(cfg.token_file);
}

// SIGHUP: reads, validates and applies the config anew; keeps the old one
// on any error (logged with its FILE:LINE:COL).
void Reload(const std::string& path, bool insecure, const AllotterConfig& running,
            Service* service) {
  StatusOr<AllotterConfig> next = LoadAllotterConfig(path);
  if (!next.ok()) {
    Log(LogLevel::kError, "reload refused, config unchanged: " + next.status().message());
    return;
  }
  if (next->listen != running.listen || next->tls_cert != running.tls_cert ||
      next->tls_key != running.tls_key || next->tls_ca != running.tls_ca) {
    Log(LogLevel::kError, "reload refused, config unchanged: " + path +
                              ": listen and tls_* take effect only at a restart");
    return;
  }
  StatusOr<std::string> token = TokenFor(*next, insecure);
  if (!token.ok()) {
    Log(LogLevel::kError, "reload refused, config unchanged: " + token.status().message());
    return;
  }
  for (const std::string& w : next->warnings) Log(LogLevel::kWarn, w);
  if (Status s = service->Reload(std::move(*next), std::move(*token)); !s.ok()) {
    Log(LogLevel::kError, "reload refused, config unchanged: " + s.message());
    return;
  }
  Log(LogLevel::kInfo, "reloaded " + path);
}

// Idle connections each hold a descriptor: take the hard limit.
void RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int Main(int argc, char** argv) {
  // SIGTERM / SIGINT: stop serving and exit 0 (blocked before any thread
  // starts, then taken by sigwait).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::string config_path, log_level = "info", metrics_flag;
  bool insecure = false, log_json = false;
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
    } else if (a == "--insecure") {
      insecure = true;
    } else if (a == "--metrics" && i + 1 < argc) {
      metrics_flag = argv[++i];
    } else if (a == "--log-level" && i + 1 < argc) {
      log_level = argv[++i];
    } else if (a == "--log-json") {
      log_json = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::fputs(
          "Divides each fleet-wide limit of FILE (allotter.toml, docs/fleet.md) among the\n"
          "hosts whose sluice-forwarder refreshes here. Forwarders must send the token of\n"
          "token_file unless --insecure. Logs to stderr (LEVEL: debug, info, warn, error;\n"
          "--log-json: one JSON object per line). SIGHUP reloads FILE. --metrics serves\n"
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
  if (Status s = SetupLog("sluice-allotter", log_level, log_json); !s.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s\n", s.message().c_str());
    return 2;
  }
  StatusOr<AllotterConfig> cfg = LoadAllotterConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s\n", cfg.status().message().c_str());
    return 2;
  }
  for (const std::string& w : cfg->warnings) Log(LogLevel::kWarn, w);
  StatusOr<std::string> token = TokenFor(*cfg, insecure);
  if (!token.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s\n", token.status().message().c_str());
    return 2;
  }
  if (token->empty()) Log(LogLevel::kWarn, "--insecure: serving forwarders without a token");
  StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      MakeServerCredentials({cfg->tls_cert, cfg->tls_key, cfg->tls_ca});
  if (!creds.ok()) {
    std::fprintf(stderr, "sluice-allotter: %s: %s\n", config_path.c_str(),
                 creds.status().message().c_str());
    return 2;
  }
  RaiseDescriptorLimit();
  const std::string listen = cfg->listen;
  const AllotterConfig running = *cfg;  // what a reload may not change
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
  Service service(&leadership, *token);
  metrics::AllotterStatus status(
      [&](int64_t now) {
        AllotterView v = leadership.View(now);
        v.refused += service.token_refused();
        return v;
      },
      MonotonicNs);
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
  builder.AddListeningPort(listen, *creds, &port);
  ApplyServerLimits(ServerLimits{}, &builder);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "sluice-allotter: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  for (const ResourceConfig& r : running.resources) {
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
  NotifyReady("listening on port " + std::to_string(port));
  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
      NotifyReloading();
      Reload(config_path, insecure, running, &service);
      NotifyReady("serving");
    }
    NotifyStopping();
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
