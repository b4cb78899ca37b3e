// Real daemons on 127.0.0.1 for the operations tests (token, TLS, reload,
// signals, floods): a temp dir, config and budget files, processes started
// with their stderr in a log, and the share a host's forwarder published.
#ifndef SLUICE_TESTS_FLEET_OPS_FIXTURE_H_
#define SLUICE_TESTS_FLEET_OPS_FIXTURE_H_

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "local_daemons.h"
#include "sluice/admin/share.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice::fleet {

class FleetOps : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-fleet-ops-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (pid_t p : pids_) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    if (!HasFailure()) {
      std::filesystem::remove_all(dir_);
    } else {
      std::fprintf(stderr, "logs kept in %s\n", dir_.c_str());
    }
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = Path(name);
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(Path(name));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // allotter.toml dividing a sliding "api" of `limit` per 100 ms.
  static std::string AllotterToml(int port, uint64_t limit, const std::string& extra = "",
                                  const std::string& algorithm =
                                      "algorithm = \"sliding\"\n"
                                      "window = \"100ms\"\n") {
    return "listen = \"127.0.0.1:" + std::to_string(port) + "\"\n" + extra + "[resources.api]\n" +
           algorithm + "limit = " + std::to_string(limit) +
           "\nlease = \"1s\"\nrefresh = \"200ms\"\n";
  }
  // A host's budget file: its global "api" and the [allotter] link.
  static std::string BudgetToml(const std::string& ns, int port, const std::string& extra = "") {
    return "namespace = \"" + ns +
           "\"\n[limiters.api]\nalgorithm = \"sliding\"\nglobal = true\nwindow = \"100ms\"\n"
           "[allotter]\naddress = \"127.0.0.1:" +
           std::to_string(port) + "\"\n" + extra;
  }
  pid_t Start(const std::string& daemon, std::vector<std::string> args, const std::string& log) {
    args.insert(args.begin(), std::string(SLUICE_BIN_DIR) + "/" + daemon);
    const pid_t p = SpawnLogged(args, Path(log));
    pids_.push_back(p);
    return p;
  }
  // Exit status (or 128 + signal) within `limit`; -1 if still running.
  int Wait(pid_t p, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    int st = 0;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(p, &st, WNOHANG) == p) {
        std::erase(pids_, p);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }
  // The "api" share as the host's forwarder last published it.
  static StatusOr<admin::FleetFigures> Figures(const std::string& ns) {
    StatusOr<Segment> seg = Segment::Open(ns);
    if (!seg.ok()) return seg.status();
    return admin::ReadFleet(*seg, "api");
  }
  // True once `ns`'s forwarder has published `n` more shares from the
  // allotter (each refresh renews the share: a later expiry).
  static bool Refreshes(const std::string& ns, int n, std::chrono::milliseconds limit) {
    int64_t last = -1;
    int seen = 0;
    return testing::WaitFor(
        [&] {
          StatusOr<admin::FleetFigures> f = Figures(ns);
          if (!f.ok() || f->epoch == 0) return false;
          if (f->share.expires_ns != last) {
            if (last != -1) ++seen;
            last = f->share.expires_ns;
          }
          return seen >= n;
        },
        limit);
  }
  bool LogHas(const std::string& log, const std::string& text,
              std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    return testing::WaitFor([&] { return Read(log).find(text) != std::string::npos; }, limit);
  }

  std::string dir_;
  std::vector<pid_t> pids_;
};

}  // namespace sluice::fleet

#endif  // SLUICE_TESTS_FLEET_OPS_FIXTURE_H_
