#include "local_etcd.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "etcd_election.h"
#include "local_daemons.h"

namespace sluice::fleet {

bool LocalEtcd::Available() { return access(kBinary, X_OK) == 0; }

LocalEtcd::LocalEtcd(const std::string& dir) {
  if (!Available()) {
    error_ = std::string(kBinary) + " is not installed (Debian: etcd-server)";
    return;
  }
  const std::string client = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  url_ = client;
  pid_ = SpawnLogged({kBinary, "--name", "test", "--data-dir", dir + "/etcd.data",
                      "--listen-client-urls", client, "--advertise-client-urls", client,
                      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                      "--initial-cluster", "test=" + peer, "--log-level", "warn"},
                     dir + "/etcd.log");
  // Answers once it asks: "no leader" (kNotFound) from the election service.
  EtcdElection probe({url_}, "probe");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    StatusOr<std::string> l = probe.Leader();
    if (l.ok() || l.status().code() == Code::kNotFound) return;
    last = l.status().ToString();
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "etcd exited at start (see " + dir + "/etcd.log)";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "etcd did not answer within 20 s (" + last + "; see " + dir + "/etcd.log)";
}

LocalEtcd::~LocalEtcd() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

}  // namespace sluice::fleet
