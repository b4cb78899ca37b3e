// sluice-allotter as a process: config errors, and the gRPC shell's
// answers (token, refusals, replies, epochs) on 127.0.0.1.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "local_daemons.h"
#include "sluice_fleet.grpc.pb.h"

namespace sluice::fleet {
namespace {

using Clock = std::chrono::steady_clock;

struct Run {
  int status = -1;
  std::string err;
};

class AllotterProcess {
 public:
  explicit AllotterProcess(const std::vector<std::string>& args, const std::string& err_path)
      : err_path_(err_path) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(err_path.c_str(), "w");
      if (f) dup2(fileno(f), 2);
      std::vector<char*> argv{const_cast<char*>(SLUICE_ALLOTTER)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~AllotterProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits (bounded) for the exit; -1 if it did not exit in time.
  int Wait(std::chrono::seconds limit) {
    const auto end = Clock::now() + limit;
    int st = 0;
    while (Clock::now() < end) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  std::string Err() const {
    std::ifstream in(err_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  std::string err_path_;
};

class FleetDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-fleet-daemon-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  std::string dir_;
};

TEST_F(FleetDaemon, BadConfigExitsTwoWithFileLineColumn) {
  const std::string cfg = Write("bad.toml",
                                "listen = \"127.0.0.1:0\"\n[resources.x]\nalgorithm = "
                                "\"sliding\"\nlimit = 5\nwindow = \"1s\"\ndivision = \"fifo\"\n");
  AllotterProcess p({"--config", cfg}, dir_ + "/err");
  EXPECT_EQ(p.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(p.Err().find(cfg + ":6:12: division must be"), std::string::npos) << p.Err();
  AllotterProcess usage({}, dir_ + "/err2");
  EXPECT_EQ(usage.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(usage.Err().find("usage: sluice-allotter --config FILE"), std::string::npos);
  AllotterProcess missing({"--config", dir_ + "/nope.toml"}, dir_ + "/err3");
  EXPECT_EQ(missing.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(missing.Err().find("nope.toml: cannot open"), std::string::npos) << missing.Err();
}

TEST_F(FleetDaemon, BadElectionFlagsExitTwo) {
  const std::string cfg = Write("ok.toml",
                                "listen = \"127.0.0.1:0\"\n[resources.x]\nalgorithm = "
                                "\"sliding\"\nlimit = 5\nwindow = \"1s\"\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--etcd", "127.0.0.1:2379"}, "--etcd: etcd endpoint '127.0.0.1:2379' is not http://"},
      {{"--etcd", "http://a:2379,"}, "--etcd: etcd endpoint '' is not http://"},
      {{"--etcd"}, "--etcd needs a value"},
      {{"--etcd", "http://a:2379", "--election-ttl", "0"}, "--election-ttl must be whole seconds"},
      {{"--etcd", "http://a:2379", "--election", "a/b"}, "--election must be a non-empty name"},
      {{"--etcd", "http://a:2379", "--advertise", "a"}, "--advertise must be host:port"},
  };
  int i = 0;
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args{"--config", cfg};
    args.insert(args.end(), flags.begin(), flags.end());
    AllotterProcess p(args, dir_ + "/err" + std::to_string(i++));
    EXPECT_EQ(p.Wait(std::chrono::seconds(20)), 2) << flags[0];
    EXPECT_NE(p.Err().find("sluice-allotter: " + message), std::string::npos) << p.Err();
  }
}

v1::RefreshRequest Request(const std::string& host, uint64_t instance, uint64_t seq,
                           const std::string& token, double demand = 10) {
  v1::RefreshRequest r;
  r.set_protocol(1);
  r.set_host_id(host);
  r.set_instance(instance);
  r.set_sequence(seq);
  r.set_weight(1);
  r.set_token(token);
  v1::ResourceReport* res = r.add_resources();
  res->set_name("api");
  res->set_algorithm(v1::SLIDING);
  res->set_demand(demand);
  return r;
}

TEST_F(FleetDaemon, AnswersRefusesAndStops) {
  const int port = fleet::FreeLoopbackPort();
  const std::string token = Write("token", "s3cret\n");
  chmod(token.c_str(), 0600);  // refused if group or others may read it
  const std::string cfg = Write(
      "a.toml", "listen = \"127.0.0.1:" + std::to_string(port) + "\"\ntoken_file = \"" + token +
                    "\"\n[resources.api]\nalgorithm = \"sliding\"\nlimit = 100\nwindow = "
                    "\"1s\"\nlease = \"2s\"\nrefresh = \"500ms\"\n");
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Allotter::Stub> stub = v1::Allotter::NewStub(channel);
  auto call = [&](const v1::RefreshRequest& req, v1::RefreshReply* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    ctx.set_wait_for_ready(true);
    return stub->Refresh(&ctx, req, reply);
  };
  uint64_t first_epoch = 0;
  {
    AllotterProcess p({"--config", cfg}, dir_ + "/err");
    v1::RefreshReply reply;
    grpc::Status s = call(Request("h1", 1, 1, "s3cret"), &reply);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << p.Err();
    first_epoch = reply.epoch();
    EXPECT_GT(first_epoch, 0u);
    EXPECT_TRUE(reply.learning());
    ASSERT_EQ(reply.resources_size(), 1);
    EXPECT_EQ(reply.resources(0).amount(), 0u);  // learning: held nothing
    EXPECT_EQ(reply.resources(0).lease_ns(), 2'000'000'000);
    EXPECT_EQ(reply.refresh_interval_ns(), 500'000'000);

    EXPECT_EQ(call(Request("h1", 1, 2, "wrong"), &reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(call(Request("h1", 1, 2, "s3cret", std::nan("")), &reply).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(call(Request("h1", 2, 1, "s3cret"), &reply).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
    v1::RefreshRequest unknown = Request("h2", 1, 1, "s3cret");
    unknown.mutable_resources(0)->set_name("other");
    ASSERT_TRUE(call(unknown, &reply).ok());
    EXPECT_NE(reply.resources(0).error().find("unknown resource 'other'"), std::string::npos);

    const auto t0 = Clock::now();
    p.Signal(SIGTERM);
    EXPECT_EQ(p.Wait(std::chrono::seconds(20)), 0);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3)) << "SIGTERM stops it promptly";
    const std::string err = p.Err();
    EXPECT_NE(err.find("listening on 127.0.0.1:" + std::to_string(port)), std::string::npos);
    EXPECT_NE(err.find("host h1 joined"), std::string::npos) << err;
    EXPECT_NE(err.find("held by another live forwarder"), std::string::npos) << err;
    EXPECT_NE(err.find("bad token"), std::string::npos) << err;
    EXPECT_NE(err.find("stopping"), std::string::npos) << err;
  }
  // A restart answers with a higher epoch (a fresh channel: the old one
  // may be backing off).
  AllotterProcess again({"--config", cfg}, dir_ + "/err4");
  stub = v1::Allotter::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  v1::RefreshReply reply;
  grpc::Status s = call(Request("h1", 1, 1, "s3cret"), &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(reply.epoch(), first_epoch);
}

}  // namespace
}  // namespace sluice::fleet
