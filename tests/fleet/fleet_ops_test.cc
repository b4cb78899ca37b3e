// The daemons' operations on 127.0.0.1: the token (owner-only file,
// required unless --insecure), SIGHUP reloads of both daemons (applied
// live, refused whole and logged with FILE:LINE:COL on error), SIGTERM
// (the forwarder leaves its shares in force), JSON logs, and systemd's
// readiness protocol (NOTIFY_SOCKET).
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ops_fixture.h"

namespace sluice::fleet {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// GET `path` from 127.0.0.1:port; the whole response ("" on failure).
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
    }
  }
  close(fd);
  return out;
}

TEST_F(FleetOps, StartRefusesAnOpenTokenFileOrNoTokenWithoutInsecure) {
  const int port = FreeLoopbackPort();
  const std::string open_token = Write("open-token", "s3cret\n", 0644);
  Write("a.toml", AllotterToml(port, 100, "token_file = \"" + open_token + "\"\n"));
  pid_t p = Start("sluice-allotter", {"--config", Path("a.toml")}, "a1.log");
  EXPECT_EQ(Wait(p), 2);
  EXPECT_TRUE(LogHas("a1.log", open_token + ": token file is accessible by group or others"))
      << Read("a1.log");
  Write("b.toml", AllotterToml(port, 100));
  p = Start("sluice-allotter", {"--config", Path("b.toml")}, "a2.log");
  EXPECT_EQ(Wait(p), 2);
  EXPECT_TRUE(LogHas("a2.log", "b.toml: token_file is required (or start with --insecure)"))
      << Read("a2.log");
  p = Start("sluice-allotter", {"--config", Path("b.toml"), "--log-level", "loud"}, "a3.log");
  EXPECT_EQ(Wait(p), 2);
  EXPECT_TRUE(LogHas("a3.log", "log level must be debug, info, warn or error"));
  testing::ScopedNamespace ns("ops-tok");
  Write("host.toml", BudgetToml(ns.ns(), port, "token_file = \"" + open_token + "\"\n"));
  p = Start("sluice-forwarder", {"--budget", Path("host.toml")}, "f.log");
  EXPECT_EQ(Wait(p), 2);
  EXPECT_TRUE(LogHas("f.log", open_token + ": token file is accessible by group or others"))
      << Read("f.log");
}

TEST_F(FleetOps, AllotterReloadMovesSharesAndKeepsTheOldConfigOnError) {
  const int port = FreeLoopbackPort();
  const std::string token = Write("token", "s3cret\n");
  const std::string tok = "token_file = \"" + token + "\"\n";
  const std::string cfg = Write("a.toml", AllotterToml(port, 100, tok));
  const pid_t a = Start("sluice-allotter", {"--config", cfg, "--log-json"}, "a.log");
  testing::ScopedNamespace ns("ops-reload");
  Write("host.toml", BudgetToml(ns.ns(), port, tok));
  const pid_t f =
      Start("sluice-forwarder", {"--budget", Path("host.toml"), "--host-id", "h1"}, "f.log");
  // Alone, after learning (lease + tail ~1.1 s), the host holds the limit.
  auto amount_is = [&](uint64_t want) {
    return testing::WaitFor(
        [&] {
          StatusOr<admin::FleetFigures> fig = Figures(ns.ns());
          return fig.ok() && fig->stage == admin::ShareStage::kShare && fig->share.amount == want;
        },
        seconds(15));
  };
  ASSERT_TRUE(amount_is(100)) << Read("a.log") << Read("f.log");
  // Lowered: the host is cut to the new limit.
  Write("a.toml", AllotterToml(port, 40, tok));
  kill(a, SIGHUP);
  ASSERT_TRUE(LogHas("a.log", "reloaded " + cfg)) << Read("a.log");
  EXPECT_TRUE(amount_is(40)) << Read("a.log");
  // A syntax error: refused with its position; the old config serves on.
  Write("a.toml", AllotterToml(port, 70, tok) + "lease = \n");
  kill(a, SIGHUP);
  EXPECT_TRUE(LogHas("a.log", "reload refused, config unchanged: " + cfg + ":9:")) << Read("a.log");
  // A changed algorithm: refused with a clear message.
  Write("a.toml", AllotterToml(port, 70, tok, "algorithm = \"window\"\nwindow = \"100ms\"\n"));
  kill(a, SIGHUP);
  EXPECT_TRUE(LogHas("a.log", "resource 'api' changed its algorithm from sliding to window"))
      << Read("a.log");
  // A token file opened to others: refused too.
  const std::string open_token = Write("open-token", "s3cret\n", 0644);
  Write("a.toml", AllotterToml(port, 70, "token_file = \"" + open_token + "\"\n"));
  kill(a, SIGHUP);
  EXPECT_TRUE(LogHas("a.log", "accessible by group or others")) << Read("a.log");
  ASSERT_TRUE(Refreshes(ns.ns(), 3, seconds(10))) << "the forwarder still refreshes";
  StatusOr<admin::FleetFigures> fig = Figures(ns.ns());
  ASSERT_TRUE(fig.ok());
  EXPECT_EQ(fig->share.amount, 40u) << "the refused reloads changed nothing";
  // Raised again: the host grows.
  Write("a.toml", AllotterToml(port, 90, tok));
  kill(a, SIGHUP);
  EXPECT_TRUE(amount_is(90)) << Read("a.log");

  // SIGTERM: the forwarder stops at once and leaves the share in force.
  const auto t0 = std::chrono::steady_clock::now();
  kill(f, SIGTERM);
  EXPECT_EQ(Wait(f), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(3));
  fig = Figures(ns.ns());
  ASSERT_TRUE(fig.ok());
  EXPECT_EQ(fig->stage, admin::ShareStage::kShare);
  EXPECT_EQ(fig->share.amount, 90u);
  EXPECT_TRUE(LogHas("f.log", "the shares stay in force until their leases end"));
  // The allotter stops answering and exits.
  kill(a, SIGTERM);
  EXPECT_EQ(Wait(a), 0);
  // --log-json: every line one JSON object.
  std::istringstream lines(Read("a.log"));
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
  }
  EXPECT_GT(n, 5);
}

TEST_F(FleetOps, ForwarderReloadFollowsANewAllotterAndKeepsTheOldBudgetOnError) {
  const int port_a = FreeLoopbackPort();
  const int port_b = FreeLoopbackPort();
  const std::string tok_a = "token_file = \"" + Write("token-a", "aaa\n") + "\"\n";
  const std::string tok_b = "token_file = \"" + Write("token-b", "bbb\n") + "\"\n";
  Write("a.toml", AllotterToml(port_a, 100, tok_a));
  Write("b.toml", AllotterToml(port_b, 100, tok_b));
  Start("sluice-allotter", {"--config", Path("a.toml")}, "a.log");
  testing::ScopedNamespace ns("ops-fwd");
  const std::string budget = Write("host.toml", BudgetToml(ns.ns(), port_a, tok_a));
  const pid_t f = Start("sluice-forwarder", {"--budget", budget, "--host-id", "h1"}, "f.log");
  ASSERT_TRUE(Refreshes(ns.ns(), 1, seconds(10))) << Read("f.log") << Read("a.log");
  const uint64_t epoch_a = Figures(ns.ns())->epoch;
  const int metrics_b = FreeLoopbackPort();
  Start("sluice-allotter",
        {"--config", Path("b.toml"), "--metrics", "127.0.0.1:" + std::to_string(metrics_b)},
        "b.log");
  ASSERT_TRUE(LogHas("b.log", "listening on"));
  // A bad budget file: refused with its position, the old link kept.
  Write("host.toml", BudgetToml(ns.ns(), port_b, tok_b) + "bogus = 1\n");
  kill(f, SIGHUP);
  EXPECT_TRUE(LogHas("f.log", "reload refused, budget unchanged: " + budget + ":"))
      << Read("f.log");
  ASSERT_TRUE(Refreshes(ns.ns(), 2, seconds(10)));
  EXPECT_EQ(Figures(ns.ns())->epoch, epoch_a);
  // The new allotter and its token: the host follows it (a higher epoch).
  Write("host.toml", BudgetToml(ns.ns(), port_b, tok_b));
  kill(f, SIGHUP);
  EXPECT_TRUE(LogHas("f.log", "reloaded " + budget)) << Read("f.log");
  EXPECT_TRUE(testing::WaitFor([&] { return Figures(ns.ns())->epoch > epoch_a; }, seconds(10)))
      << Read("f.log") << Read("b.log");
  EXPECT_TRUE(LogHas("b.log", "host h1 joined"));
  // The wrong token: refused by the allotter, counted in its log.
  Write("token-b", "wrong\n");
  kill(f, SIGHUP);
  EXPECT_TRUE(LogHas("b.log", "bad token (1 refused so far)")) << Read("b.log");
  // ... and in its metrics: a host refused for its token is what to alert on.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        const std::string m = HttpGet(metrics_b, "/metrics");
        const size_t at = m.find("\nsluice_allotter_refused_total ");
        return at != std::string::npos &&
               m.compare(at, 32, "\nsluice_allotter_refused_total 0") != 0;
      },
      seconds(10)))
      << HttpGet(metrics_b, "/metrics");
}

// The datagrams a daemon sends to NOTIFY_SOCKET, read with a deadline.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { close(fd_); }
  bool bound() const { return bound_; }
  // The next message ("" after 10 s without one).
  std::string Next() {
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST_F(FleetOps, BothDaemonsTellSystemdWhenReadyReloadingAndStopping) {
  NotifySocket sock(Path("notify"));
  ASSERT_TRUE(sock.bound());
  const int port = FreeLoopbackPort();
  const std::string tok = "token_file = \"" + Write("token", "s3cret\n") + "\"\n";
  Write("a.toml", AllotterToml(port, 100, tok));
  setenv("NOTIFY_SOCKET", Path("notify").c_str(), 1);
  const pid_t a = Start("sluice-allotter", {"--config", Path("a.toml")}, "a.log");
  unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(sock.Next(), "READY=1\nSTATUS=listening on port " + std::to_string(port));
  kill(a, SIGHUP);
  EXPECT_EQ(sock.Next(), "RELOADING=1");
  EXPECT_EQ(sock.Next(), "READY=1\nSTATUS=serving");
  kill(a, SIGTERM);
  EXPECT_EQ(sock.Next(), "STOPPING=1");
  EXPECT_EQ(Wait(a), 0);

  Start("sluice-allotter", {"--config", Path("a.toml")}, "a2.log");
  testing::ScopedNamespace ns("ops-notify");
  const std::string budget = Write("host.toml", BudgetToml(ns.ns(), port, tok));
  setenv("NOTIFY_SOCKET", Path("notify").c_str(), 1);
  const pid_t f = Start("sluice-forwarder", {"--budget", budget}, "f.log");
  unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(sock.Next(), "READY=1\nSTATUS=applied " + budget);
  EXPECT_TRUE(Figures(ns.ns()).ok()) << "ready means applied: workers can attach";
  kill(f, SIGHUP);
  EXPECT_EQ(sock.Next(), "RELOADING=1");
  EXPECT_EQ(sock.Next(), "READY=1\nSTATUS=refreshing");
  kill(f, SIGTERM);
  EXPECT_EQ(sock.Next(), "STOPPING=1");
  EXPECT_EQ(Wait(f), 0);
}

}  // namespace
}  // namespace sluice::fleet
