// sluice_bench: the measurements behind docs/benchmarks.md that Google
// Benchmark does not fit (percentiles, processes, sleeping, accuracy).
// bench/run_all.py runs it; each subcommand prints JSON lines.
//
//   sluice_bench latency|contention|waking|handover|blocked-cpu|lease-waiters|accuracy|memory
//   [--key value]...
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_util.h"
#include "commands.h"

namespace sluice_bench {

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
      fprintf(stderr, "sluice_bench: expected --key value, got '%s'\n", argv[i]);
      std::exit(2);
    }
    kv_[argv[i] + 2] = argv[i + 1];
    ++i;
  }
}

int64_t Args::Int(const std::string& key, int64_t def) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? def : atoll(it->second.c_str());
}

double Args::Num(const std::string& key, double def) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? def : atof(it->second.c_str());
}

std::string Args::Str(const std::string& key, const std::string& def) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? def : it->second;
}

ScratchSegment::ScratchSegment(const char* what, uint64_t arena_bytes)
    : ns_(UniqueNamespace(what)), owner_pid_(getpid()) {
  sluice::OpenOptions o;
  o.create = true;
  if (arena_bytes) o.arena_bytes = arena_bytes;
  auto s = sluice::Segment::Open(ns_, o);
  if (!s.ok()) {
    fprintf(stderr, "open %s: %s\n", ns_.c_str(), s.status().ToString().c_str());
    std::exit(1);
  }
  seg_.emplace(*s);
}

ScratchSegment::~ScratchSegment() {
  if (getpid() == owner_pid_) sluice::Segment::Remove(ns_);
}

sluice::Limiter ScratchSegment::Define(const std::string& name, const sluice::LimiterSpec& spec) {
  auto l = seg_->Define(name, spec);
  if (!l.ok()) {
    fprintf(stderr, "define %s: %s\n", name.c_str(), l.status().ToString().c_str());
    std::exit(1);
  }
  return *l;
}

sluice::Limiter ScratchSegment::Find(const std::string& name) const {
  auto s = sluice::Segment::Open(ns_);
  if (!s.ok()) std::exit(1);
  auto l = s->Find(name);
  if (!l.ok()) {
    fprintf(stderr, "find %s: %s\n", name.c_str(), l.status().ToString().c_str());
    std::exit(1);
  }
  return *l;
}

}  // namespace sluice_bench

int main(int argc, char** argv) {
  using namespace sluice_bench;
  if (argc < 2) {
    fprintf(stderr,
            "usage: sluice_bench "
            "latency|contention|waking|handover|blocked-cpu|lease-waiters|accuracy|memory "
            "[--key value]...\n");
    return 2;
  }
  const Args a(argc, argv, 2);
  const std::string cmd = argv[1];
  if (cmd == "latency") return RunLatency(a);
  if (cmd == "contention") return RunContention(a);
  if (cmd == "waking") return RunWaking(a);
  if (cmd == "handover") return RunHandover(a);
  if (cmd == "blocked-cpu") return RunBlockedCpu(a);
  if (cmd == "lease-waiters") return RunLeaseWaiters(a);
  if (cmd == "accuracy") return RunAccuracy(a);
  if (cmd == "memory") return RunMemory(a);
  fprintf(stderr, "sluice_bench: unknown command '%s'\n", cmd.c_str());
  return 2;
}
