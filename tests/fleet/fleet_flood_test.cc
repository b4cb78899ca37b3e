// The allotter under a flood on 127.0.0.1: a thousand idle TCP connections,
// one of them spewing garbage, and an oversized request, while two real
// forwarders keep refreshing. Needs ~1100 descriptors (the soft limit is
// raised to the hard one; skipped, saying so, when that is too low).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstring>
#include <random>

#include "ops_fixture.h"
#include "sluice_fleet.grpc.pb.h"

namespace sluice::fleet {
namespace {

using std::chrono::seconds;

constexpr int kIdle = 1000;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST_F(FleetOps, ThousandIdleConnectionsAndGarbageDoNotStopTheRealForwarders) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < kIdle + 200) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << rl.rlim_max << " < " << kIdle + 200
                 << ": cannot open a thousand connections";
  }
  const int port = FreeLoopbackPort();
  const std::string tok = "token_file = \"" + Write("token", "s3cret\n") + "\"\n";
  Write("a.toml", AllotterToml(port, 100, tok));
  const pid_t a = Start("sluice-allotter", {"--config", Path("a.toml")}, "a.log");
  testing::ScopedNamespace ns1("flood1"), ns2("flood2");
  Write("h1.toml", BudgetToml(ns1.ns(), port, tok));
  Write("h2.toml", BudgetToml(ns2.ns(), port, tok));
  Start("sluice-forwarder", {"--budget", Path("h1.toml"), "--host-id", "h1"}, "f1.log");
  Start("sluice-forwarder", {"--budget", Path("h2.toml"), "--host-id", "h2"}, "f2.log");
  ASSERT_TRUE(Refreshes(ns1.ns(), 1, seconds(10))) << Read("f1.log") << Read("a.log");
  ASSERT_TRUE(Refreshes(ns2.ns(), 1, seconds(10))) << Read("f2.log");

  std::vector<int> fds;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = Connect(port);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    fds.push_back(fd);
  }
  // Garbage on one: not HTTP/2 at all, 1 MiB of it (the allotter closes it).
  std::mt19937 rng(7);
  std::string junk(1 << 20, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  (void)!send(fds[0], junk.data(), junk.size(), MSG_NOSIGNAL);
  // A well-formed call over the size limit: refused, nothing else harmed.
  {
    auto stub = v1::Allotter::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                          grpc::InsecureChannelCredentials()));
    v1::RefreshRequest big;
    big.set_host_id(std::string(5 << 20, 'x'));
    big.set_token("s3cret");
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(10));
    v1::RefreshReply reply;
    EXPECT_EQ(stub->Refresh(&ctx, big, &reply).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // With the thousand still open, both hosts keep refreshing.
  EXPECT_TRUE(Refreshes(ns1.ns(), 5, seconds(10))) << Read("f1.log") << Read("a.log");
  EXPECT_TRUE(Refreshes(ns2.ns(), 5, seconds(10))) << Read("f2.log");
  EXPECT_EQ(Wait(a, std::chrono::milliseconds(0)), -1) << "the allotter is still running";
  for (int fd : fds) close(fd);
}

}  // namespace
}  // namespace sluice::fleet
