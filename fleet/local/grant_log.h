// Worker processes that ask a limiter at a paced rate and log every grant's
// time, and the offline audit of the merged log: what the fleet's
// end-to-end tests and the fleet demo share. Times are CLOCK_MONOTONIC
// nanoseconds (one clock on one machine, so merged logs are exact).
#ifndef SLUICE_FLEET_LOCAL_GRANT_LOG_H_
#define SLUICE_FLEET_LOCAL_GRANT_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sluice::fleet {

// Sleeps until CLOCK_MONOTONIC time `t` (through EINTR).
void SleepUntilNs(int64_t t);

// A paced worker, run in a child process: attaches to `limiter` in
// namespace `ns` (waiting until `attach_by` for the forwarder to apply the
// budget), then calls TryAcquire(1) at times t0, t1 = t0 + gap(t0), ...
// until `end`, passing each grant's time to `granted`, then calls
// `finished`. Exits the process: 0 (or what `finished` returns), 3 when the
// limiter never appeared.
[[noreturn]] void PacedWorker(const std::string& ns, const std::string& limiter, int64_t attach_by,
                              int64_t end, const std::function<int64_t(int64_t now)>& gap,
                              const std::function<void(int64_t)>& granted,
                              const std::function<int()>& finished);

// Grant times written and read back as raw int64 (one file per worker).
bool WriteGrantLog(const std::string& path, const std::vector<int64_t>& times);
std::vector<int64_t> ReadGrantLog(const std::string& path);
// The grant logs of `paths`, merged and sorted.
std::vector<int64_t> MergeGrantLogs(const std::vector<std::string>& paths);

// A sliding-window audit of sorted grant times: the busiest window
// (t - window, t] at any grant, and how many grants ended a window holding
// more than `limit`.
struct WindowAudit {
  size_t busiest = 0;
  size_t over = 0;
};
WindowAudit AuditWindows(const std::vector<int64_t>& sorted, int64_t window, uint64_t limit);

// Grants in [from, to) against limit * (to - from) / window.
double Utilisation(const std::vector<int64_t>& sorted, int64_t from, int64_t to, int64_t window,
                   uint64_t limit);

// A whole text file ("" when unreadable).
std::string Slurp(const std::string& path);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_LOCAL_GRANT_LOG_H_
