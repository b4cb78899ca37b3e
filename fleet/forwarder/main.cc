// sluice-forwarder --budget FILE [--host-id ID] [--weight N] [--metrics
// HOST:PORT]: applies the host's budget file (as `sluicectl apply`), then
// keeps the shares of its global limiters fresh from the [allotter] it
// names (several: it follows the one that leads). Exit 2 with one clear
// line on a bad budget file or command line.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "allotter_targets.h"
#include "convert.h"
#include "forwarder.h"
#include "forwarder_status.h"
#include "sluice/admin/budget_apply.h"
#include "sluice/admin/budget_file.h"
#include "sluice/duration.h"
#include "sluice_fleet.grpc.pb.h"

namespace sluice::fleet {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

void LogLine(const std::string& line) {
  std::fprintf(stderr, "sluice-forwarder: %s\n", line.c_str());
  std::fflush(stderr);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "sluice-forwarder: %s\n", message.c_str());
  return 2;
}

// Sleeps `ns` (CLOCK_MONOTONIC), cut short by a stop signal.
void SleepNs(int64_t ns) {
  const int64_t step = 50'000'000;
  while (ns > 0 && !g_stop.load()) {
    const int64_t d = std::min(ns, step);
    timespec ts{static_cast<time_t>(d / 1'000'000'000), static_cast<long>(d % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    ns -= d;
  }
}

int Main(int argc, char** argv) {
  std::string budget_path, host_id, metrics_flag;
  double weight = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (a == flag && i + 1 < argc) return argv[++i];
      return nullptr;
    };
    if (const char* v = value("--budget")) {
      budget_path = v;
    } else if (const char* v2 = value("--host-id")) {
      host_id = v2;
    } else if (const char* v4 = value("--metrics")) {
      metrics_flag = v4;
    } else if (const char* v3 = value("--weight")) {
      char* end = nullptr;
      weight = std::strtod(v3, &end);
      if (*end != '\0' || !(weight > 0) || weight > kMaxWeight) {
        return Fail("--weight must be a number > 0 and <= 1e6");
      }
    } else if (a == "-h" || a == "--help") {
      std::fputs(
          "usage: sluice-forwarder --budget FILE [--host-id ID] [--weight N]\n"
          "                        [--metrics HOST:PORT]\n"
          "Applies FILE (as `sluicectl apply`), then keeps the shares of its global\n"
          "limiters fresh from the [allotter] it names. --host-id defaults to the host\n"
          "name. --metrics serves Prometheus metrics of every limiter of the namespace\n"
          "at /metrics on HOST:PORT. Logs to stderr; SIGTERM stops it (shares then\n"
          "lapse on their own).\n",
          stdout);
      return 0;
    } else {
      return Fail("usage: sluice-forwarder --budget FILE [--host-id ID] [--weight N]");
    }
  }
  if (budget_path.empty()) {
    return Fail("usage: sluice-forwarder --budget FILE [--host-id ID] [--weight N]");
  }
  StatusOr<metrics::ListenAddress> metrics_addr = metrics::ListenAddress{};
  if (!metrics_flag.empty()) metrics_addr = metrics::ParseListenAddress(metrics_flag);
  if (!metrics_addr.ok()) return Fail(metrics_addr.status().message());
  if (host_id.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    host_id = buf;
  }
  StatusOr<Budget> budget = LoadBudgetFile(budget_path);
  if (!budget.ok()) return Fail(budget.status().message());
  if (!budget->allotter) return Fail(budget_path + ": no [allotter] table: nothing to forward");
  std::string token;
  if (!budget->allotter->token_file.empty()) {
    std::ifstream f(budget->allotter->token_file);
    if (!f) return Fail(budget->allotter->token_file + ": cannot read token_file");
    std::getline(f, token);
  }
  ApplyOptions opts;
  StatusOr<ApplyReport> report = ApplyBudget(*budget, opts);
  if (!report.ok()) return Fail(report.status().message());
  LogLine("applied " + budget_path + " to namespace " + report->ns);
  ForwarderOptions fo;
  fo.host_id = host_id;
  fo.weight = weight;
  fo.instance = std::random_device{}() * uint64_t{0x100000000} + std::random_device{}();
  for (const BudgetLimiter& l : budget->limiters) {
    if (l.spec.global) fo.limiters.push_back(l.name);
  }
  if (fo.limiters.empty()) LogLine("warning: no global limiter in " + budget_path);
  Status st;
  std::unique_ptr<HostLimiters> host = SegmentLimiters(report->ns, &st);
  if (!host) return Fail(st.ToString());

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  metrics::ForwarderStatus status(report->ns, host_id, fo.limiters);
  if (!metrics_flag.empty()) {
    const Status ms = status.Start(*metrics_addr);
    if (!ms.ok()) {
      LogLine(ms.message());
      return 1;
    }
    LogLine("metrics on " + metrics_addr->host + ":" + std::to_string(status.port()));
  }
  Forwarder fwd(host.get(), fo, LogLine);
  // Reconnect quickly after an allotter restart (gRPC's default backoff
  // grows to minutes; a lease is seconds).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // One channel per allotter asked; the leader's, once one names it.
  std::vector<std::string> listed = budget->allotter->addresses;
  if (listed.empty()) listed.push_back(budget->allotter->address);
  AllotterTargets targets(listed);
  std::map<std::string, std::unique_ptr<v1::Allotter::Stub>> stubs;
  auto stub_for = [&](const std::string& address) {
    std::unique_ptr<v1::Allotter::Stub>& stub = stubs[address];
    if (!stub) {
      stub = v1::Allotter::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
    }
    return stub.get();
  };
  LogLine("host " + host_id + ", " + std::to_string(fo.limiters.size()) +
          " global limiter(s), allotter " + budget->allotter->address);
  int64_t interval = kNanosPerSecond;
  int tries = 0;
  bool connected = false;
  std::map<std::string, std::string> last_failure;  // per allotter
  fwd.Next();
  while (!g_stop.load()) {
    v1::RefreshRequest req;
    ToProto(fwd.current(), token, &req);
    req.set_age_ns(host->Now() - fwd.sent_ns());
    v1::RefreshReply reply;
    grpc::ClientContext ctx;
    const int64_t deadline_ns = std::min<int64_t>(interval, kNanosPerSecond);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::nanoseconds(deadline_ns));
    // Wait (within the deadline) for a connection rather than failing at
    // once while the channel backs off: an allotter that (re)starts is
    // reached as soon as it listens, not a backoff step later.
    ctx.set_wait_for_ready(true);
    const std::string asked = targets.current();
    const grpc::Status s = stub_for(asked)->Refresh(&ctx, req, &reply);
    if (s.ok()) {
      if (!connected) LogLine("connected to the allotter at " + asked);
      targets.Answered();
      connected = true;
      last_failure.clear();  // every allotter's
      tries = 0;
      const RefreshOut out = FromProto(reply);
      interval = fwd.Apply(out);
      status.Refreshed(out, fwd.sent_ns());
      if (interval <= 0) interval = kNanosPerSecond;
      // A cut already drained is reported at once (Forwarder::follow_up).
      if (!fwd.follow_up()) SleepNs(fwd.sent_ns() + interval - host->Now());
      fwd.Next();
      continue;
    }
    // One line per kind of failure, not one per try.
    const std::string failure =
        s.error_message() + " (code " + std::to_string(static_cast<int>(s.error_code())) + ")";
    if (connected || failure != last_failure[asked]) {
      LogLine("refresh at " + asked + " failed: " + failure + "; retrying");
    }
    last_failure[asked] = failure;
    connected = false;
    status.RefreshFailed();
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // An allotter that does not lead names the leader in the trailers.
      std::string leader;
      const auto& trailers = ctx.GetServerTrailingMetadata();
      auto it = trailers.find(kLeaderMetadata);
      if (it != trailers.end()) leader.assign(it->second.data(), it->second.size());
      if (!leader.empty() || s.error_message().rfind("not the leader", 0) == 0) {
        if (targets.NotLeader(leader)) continue;  // ask the leader at once, same request
        SleepNs(interval / 4);
        continue;
      }
    }
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      targets.Failed();  // the next listed allotter (the same one if only one)
    }
    // A retry keeps the sequence number (idempotent) and the first send
    // time; after three, ask afresh with new figures.
    if (++tries >= 3 || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      tries = 0;
      SleepNs(interval / 4);
      fwd.Next();
    } else {
      SleepNs(interval / 4);
    }
  }
  LogLine("stopping; shares lapse on their own");
  return 0;
}

}  // namespace
}  // namespace sluice::fleet

int main(int argc, char** argv) { return sluice::fleet::Main(argc, argv); }
