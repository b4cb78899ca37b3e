// Writes the seed corpus of segment_fuzz: real segments, made by this
// library, copied from /dev/shm into DIR (tests/fuzz/corpus/segment_fuzz).
// Small capacities and arenas keep the files small. Run again when the
// segment layout changes: tests/fuzz/make_segment_seeds.sh.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "sluice/segment.h"

namespace {

constexpr int64_t kMs = 1000000;

sluice::Segment Open(const std::string& ns, uint32_t capacity, uint64_t arena) {
  sluice::Segment::Remove(ns);
  sluice::OpenOptions o;
  o.create = true;
  o.capacity = capacity;
  o.arena_bytes = arena;
  sluice::StatusOr<sluice::Segment> s = sluice::Segment::Open(ns, o);
  if (!s.ok()) {
    std::cerr << s.status().ToString() << "\n";
    std::exit(1);
  }
  return *s;
}

sluice::Limiter Define(sluice::Segment& seg, const char* name, const sluice::LimiterSpec& spec) {
  sluice::StatusOr<sluice::Limiter> l = seg.Define(name, spec);
  if (!l.ok()) {
    std::cerr << name << ": " << l.status().ToString() << "\n";
    std::exit(1);
  }
  return *l;
}

void Save(const std::string& ns, const std::string& dir, const std::string& name) {
  std::ifstream in(sluice::Segment::PathFor(ns), std::ios::binary);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  if (!out) {
    std::cerr << "cannot write " << dir << "/" << name << "\n";
    std::exit(1);
  }
  sluice::Segment::Remove(ns);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_segment_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  const std::string ns = "fuzz-seeds-" + std::to_string(getpid());
  {
    Open(ns, 1, 4096);
    Save(ns, dir, "empty");
  }
  {
    sluice::Segment seg = Open(ns, 8, 16384);
    sluice::Limiter g = Define(seg, "gcra", sluice::LimiterSpec::Gcra(100, 1000 * kMs, 10));
    sluice::Limiter w = Define(seg, "window", sluice::LimiterSpec::Window(5, 800 * kMs));
    sluice::Limiter s = Define(seg, "sliding", sluice::LimiterSpec::Sliding(4, 800 * kMs));
    sluice::Limiter l = Define(seg, "lease", sluice::LimiterSpec::Lease(2, 250 * kMs, false));
    sluice::Limiter r =
        Define(seg, "lease-reclaim", sluice::LimiterSpec::Lease(1, 250 * kMs, true));
    for (sluice::Limiter* x : {&g, &w, &s, &l}) {
      for (int i = 0; i < 3; ++i) (void)x->TryAcquire(1);
      x->FlushStats();
    }
    sluice::StatusOr<sluice::Lease> held = r.AcquireLease(0);
    if (!held.ok()) return 1;
    Save(ns, dir, "one-of-each");  // the lease stays held in the copy
  }
  {
    sluice::Segment seg = Open(ns, 4, 16384);
    sluice::Limiter s = Define(seg, "sliding", sluice::LimiterSpec::Sliding(6, 100 * kMs));
    sluice::Limiter l = Define(seg, "lease", sluice::LimiterSpec::Lease(3, 100 * kMs, false));
    for (int i = 0; i < 6; ++i) (void)s.TryAcquire(1);
    for (int i = 0; i < 3; ++i) (void)l.TryAcquire(1);
    // Shrinks carry grants in the parameter record; a grow puts them back.
    Define(seg, "sliding", sluice::LimiterSpec::Sliding(2, 100 * kMs));
    Define(seg, "lease", sluice::LimiterSpec::Lease(1, 100 * kMs, false));
    Define(seg, "sliding", sluice::LimiterSpec::Sliding(3, 50 * kMs));
    Define(seg, "gcra", sluice::LimiterSpec::Gcra(10, 10 * kMs, 2));
    Define(seg, "gcra", sluice::LimiterSpec::Gcra(1, 10 * kMs, 1));
    if (!seg.Retire("gcra").ok()) return 1;
    Save(ns, dir, "live-changes");
  }
  {
    sluice::Segment seg = Open(ns, 2, 4096);
    sluice::LimiterSpec spec = sluice::LimiterSpec::Window(10, 1000 * kMs);
    spec.global = true;
    Define(seg, "window", spec);
    Save(ns, dir, "global");
  }
  return 0;
}
