// sluice-forwarder --budget FILE [--host-id ID] [--weight N] [--metrics
// HOST:PORT]: applies the host's budget file (as `sluicectl apply`), then
// keeps the shares of its global limiters fresh from the [allotter] it
// names (several: it follows the one that leads). Exit 2 with one clear
// line on a bad budget file or command line. SIGHUP re-applies the budget
// file (kept on error); SIGTERM stops refreshing and leaves the shares in
// force until their leases end.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "allotter_targets.h"
#include "convert.h"
#include "forwarder.h"
#include "forwarder_status.h"
#include "log.h"
#include "service_notify.h"
#include "sluice/admin/budget_apply.h"
#include "sluice/admin/budget_file.h"
#include "sluice/duration.h"
#include "sluice_fleet.grpc.pb.h"
#include "tls.h"
#include "token.h"

namespace sluice::fleet {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

void LogLine(const std::string& line) { Log(LogLevel::kInfo, line); }

int Fail(const std::string& message) {
  std::fprintf(stderr, "sluice-forwarder: %s\n", message.c_str());
  return 2;
}

// Sleeps `ns` (CLOCK_MONOTONIC), cut short by a stop signal.
void SleepNs(int64_t ns) {
  const int64_t step = 50'000'000;
  while (ns > 0 && !g_stop.load() && !g_reload.load()) {
    const int64_t d = std::min(ns, step);
    timespec ts{static_cast<time_t>(d / 1'000'000'000), static_cast<long>(d % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    ns -= d;
  }
}

// How the forwarder reaches the allotters: addresses, token, TLS, and a
// channel per allotter asked.
struct Link {
  std::string address, token;  // address as written (a comma list: several)
  std::vector<std::string> addresses;
  TlsFiles tls;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::map<std::string, std::unique_ptr<v1::Allotter::Stub>> stubs;

  v1::Allotter::Stub* StubFor(const std::string& to) {
    std::unique_ptr<v1::Allotter::Stub>& stub = stubs[to];
    if (!stub) {
      // Reconnect quickly after an allotter restart (gRPC's default backoff
      // grows to minutes; a lease is seconds).
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      stub = v1::Allotter::NewStub(grpc::CreateCustomChannel(to, creds, args));
    }
    return stub.get();
  }
};

// The [allotter] table's link; errors name the file.
StatusOr<Link> MakeLink(const sluice::AllotterConfig& a) {
  Link link;
  link.address = a.address;
  link.addresses = a.addresses;
  if (link.addresses.empty()) link.addresses.push_back(a.address);
  link.tls = {a.tls_cert, a.tls_key, a.tls_ca};
  if (!a.token_file.empty()) {
    StatusOr<std::string> token = ReadTokenFile(a.token_file);
    if (!token.ok()) return token.status();
    link.token = std::move(*token);
  }
  StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeChannelCredentials(link.tls);
  if (!creds.ok()) return creds.status();
  link.creds = std::move(*creds);
  return link;
}

std::vector<std::string> GlobalLimiters(const Budget& b) {
  std::vector<std::string> names;
  for (const BudgetLimiter& l : b.limiters) {
    if (l.spec.global) names.push_back(l.name);
  }
  return names;
}

// SIGHUP: the budget file read, validated and applied whole, as at start;
// a new [allotter] link. On any error the old file stays in force (logged
// with its FILE:LINE:COL).
void Reload(const std::string& path, const std::optional<std::string>& ns, Forwarder* fwd,
            Link* link, AllotterTargets* targets) {
  auto refuse = [&](const std::string& why) {
    Log(LogLevel::kError, "reload refused, budget unchanged: " + why);
  };
  StatusOr<Budget> budget = LoadBudgetFile(path);
  if (!budget.ok()) return refuse(budget.status().message());
  if (!budget->allotter) return refuse(path + ": no [allotter] table");
  if (budget->ns != ns) {
    return refuse(path + ": namespace changed; a new namespace needs a restart");
  }
  StatusOr<Link> next = MakeLink(*budget->allotter);
  if (!next.ok()) return refuse(next.status().message());
  StatusOr<ApplyReport> report = ApplyBudget(*budget, ApplyOptions{});
  if (!report.ok()) return refuse(report.status().message());
  fwd->SetLimiters(GlobalLimiters(*budget));
  if (next->address != link->address) {
    Log(LogLevel::kInfo, "allotter now " + next->address);
    *targets = AllotterTargets(next->addresses);
  }
  *link = std::move(*next);
  Log(LogLevel::kInfo, "reloaded " + path);
}

int Main(int argc, char** argv) {
  std::string budget_path, host_id, log_level = "info", metrics_flag;
  bool log_json = false;
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
    } else if (const char* v3 = value("--weight")) {
      char* end = nullptr;
      weight = std::strtod(v3, &end);
      if (*end != '\0' || !(weight > 0) || weight > kMaxWeight) {
        return Fail("--weight must be a number > 0 and <= 1e6");
      }
    } else if (const char* m = value("--metrics")) {
      metrics_flag = m;
    } else if (const char* v4 = value("--log-level")) {
      log_level = v4;
    } else if (a == "--log-json") {
      log_json = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(
          "usage: sluice-forwarder --budget FILE [--host-id ID] [--weight N]\n"
          "                        [--metrics HOST:PORT] [--log-level LEVEL] [--log-json]\n"
          "Applies FILE (as `sluicectl apply`), then keeps the shares of its global\n"
          "limiters fresh from the [allotter] it names (several, comma-separated: it\n"
          "follows the one that leads). --host-id defaults to the host name. --metrics\n"
          "serves Prometheus metrics of every limiter of the namespace at /metrics on\n"
          "HOST:PORT. Logs to stderr (LEVEL: debug, info, warn, error). SIGHUP\n"
          "re-applies FILE; SIGTERM stops it (shares stay in force until their leases\n"
          "end).\n",
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
  if (Status s = SetupLog("sluice-forwarder", log_level, log_json); !s.ok()) {
    return Fail(s.message());
  }
  if (host_id.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    host_id = buf;
  }
  StatusOr<Budget> budget = LoadBudgetFile(budget_path);
  if (!budget.ok()) return Fail(budget.status().message());
  if (!budget->allotter) return Fail(budget_path + ": no [allotter] table: nothing to forward");
  StatusOr<Link> link = MakeLink(*budget->allotter);
  if (!link.ok()) return Fail(link.status().message());
  ApplyOptions opts;
  StatusOr<ApplyReport> report = ApplyBudget(*budget, opts);
  if (!report.ok()) return Fail(report.status().message());
  LogLine("applied " + budget_path + " to namespace " + report->ns);
  ForwarderOptions fo;
  fo.host_id = host_id;
  fo.weight = weight;
  fo.instance = std::random_device{}() * uint64_t{0x100000000} + std::random_device{}();
  fo.limiters = GlobalLimiters(*budget);
  if (fo.limiters.empty()) LogLine("warning: no global limiter in " + budget_path);
  Status st;
  std::unique_ptr<HostLimiters> host = SegmentLimiters(report->ns, &st);
  if (!host) return Fail(st.ToString());

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction hup = {};
  hup.sa_handler = OnHangup;
  sigaction(SIGHUP, &hup, nullptr);

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
  AllotterTargets targets(link->addresses);
  LogLine("host " + host_id + ", " + std::to_string(fo.limiters.size()) +
          " global limiter(s), allotter " + budget->allotter->address);
  int64_t interval = kNanosPerSecond;
  int tries = 0;
  bool connected = false;
  std::map<std::string, std::string> last_failure;  // per allotter
  // Ready once the budget file is applied: workers can attach.
  NotifyReady("applied " + budget_path);
  fwd.Next();
  while (!g_stop.load()) {
    if (g_reload.exchange(false)) {
      NotifyReloading();
      Reload(budget_path, budget->ns, &fwd, &*link, &targets);
      NotifyReady("refreshing");
    }
    v1::RefreshRequest req;
    ToProto(fwd.current(), link->token, &req);
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
    const grpc::Status s = link->StubFor(asked)->Refresh(&ctx, req, &reply);
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
  NotifyStopping();
  LogLine("stopping; the shares stay in force until their leases end");
  return 0;
}

}  // namespace
}  // namespace sluice::fleet

int main(int argc, char** argv) { return sluice::fleet::Main(argc, argv); }
