// `sluicectl lease NAME -- CMD`: runs a command while holding a lease, so
// that the lease never comes free while the command (or anything it started)
// still runs. See lease_holder.cc for the processes involved.
#ifndef SLUICE_TOOLS_SLUICECTL_LEASE_HOLDER_H_
#define SLUICE_TOOLS_SLUICECTL_LEASE_HOLDER_H_

#include <string>
#include <vector>

#include "sluice/limiter.h"

namespace sluicectl {

// Runs `cmd` holding `lease` (just granted to this process on `lim`),
// renewing it every ttl/3 unless no_renew, and releases it once CMD and every
// process it started have exited. Returns CMD's exit status (128+N if killed
// by signal N, 127 if it could not be started, 1 if the lease lapsed before
// it started). REQUIRES: the calling process is single-threaded.
int RunHolding(sluice::Limiter& lim, sluice::Lease lease, const std::vector<std::string>& cmd,
               bool no_renew);

}  // namespace sluicectl

#endif  // SLUICE_TOOLS_SLUICECTL_LEASE_HOLDER_H_
