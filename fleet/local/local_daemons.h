// Running the fleet's daemons on one machine: what the end-to-end tests
// and the fleet demo share (a free loopback port, a daemon started with
// its stderr in a log file).
#ifndef SLUICE_FLEET_LOCAL_LOCAL_DAEMONS_H_
#define SLUICE_FLEET_LOCAL_LOCAL_DAEMONS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace sluice::fleet {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0,
// read back, closed).
int FreeLoopbackPort();

// Forks and execs argv[0] with argv, its stderr appended to `log`. Returns
// the child's pid (the child exits 127 if the exec fails). The child gets
// SIGTERM when the calling process dies (PR_SET_PDEATHSIG).
pid_t SpawnLogged(const std::vector<std::string>& argv, const std::string& log);

// fork(), with the child getting SIGTERM when the calling process dies.
pid_t ForkTied();

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_LOCAL_LOCAL_DAEMONS_H_
