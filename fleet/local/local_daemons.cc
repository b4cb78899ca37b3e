#include "local_daemons.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace sluice::fleet {

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

pid_t ForkTied() {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // The child ends with the test or demo that started it, however that
    // one ends (a crash, a SIGKILL, a closed pipe): never left running.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before the prctl
  }
  return pid;
}

pid_t SpawnLogged(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ForkTied();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "a");
    if (f) dup2(fileno(f), 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace sluice::fleet
