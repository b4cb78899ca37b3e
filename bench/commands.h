// The measurements of sluice_bench, one function per subcommand. Each
// prints one JSON object per line on stdout (run_all.py collects them) and
// returns the process exit status.
#ifndef SLUICE_BENCH_COMMANDS_H_
#define SLUICE_BENCH_COMMANDS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/segment.h"

namespace sluice_bench {

// "--key value" pairs from the command line.
class Args {
 public:
  Args(int argc, char** argv, int first);
  int64_t Int(const std::string& key, int64_t def) const;
  double Num(const std::string& key, double def) const;
  std::string Str(const std::string& key, const std::string& def) const;

 private:
  std::map<std::string, std::string> kv_;
};

// A fresh namespace holding the limiters of one measurement, removed when
// this object dies (in the process that created it).
class ScratchSegment {
 public:
  // arena_bytes 0: the library's default (OpenOptions).
  explicit ScratchSegment(const char* what, uint64_t arena_bytes = 16u << 20);
  ~ScratchSegment();
  // Defines `name`; exits with a message on failure.
  sluice::Limiter Define(const std::string& name, const sluice::LimiterSpec& spec);
  // Attaches anew (e.g. in a fork child) and finds `name`.
  sluice::Limiter Find(const std::string& name) const;
  const std::string& ns() const { return ns_; }
  sluice::Segment& segment() { return *seg_; }

 private:
  std::string ns_;
  std::optional<sluice::Segment> seg_;
  int owner_pid_;
};

int RunLatency(const Args& a);       // per-call p50/p99: sluice and the peers
int RunContention(const Args& a);    // aggregate decisions/s with N processes
int RunWaking(const Args& a);        // gcra Acquire wake-up lateness
int RunHandover(const Args& a);      // lease hand-over lateness at ttl
int RunBlockedCpu(const Args& a);    // CPU used by blocked waiters
int RunLeaseWaiters(const Args& a);  // lease waits against the FIFO bound
int RunAccuracy(const Args& a);      // achieved rate, sliding utilisation
int RunMemory(const Args& a);        // segment bytes per limiter / per slot

}  // namespace sluice_bench

#endif  // SLUICE_BENCH_COMMANDS_H_
