// A C++ consumer of the installed package (find_package(sluice)).
#include <sluice/segment.h>

#include <cstdio>

int main(int argc, char** argv) {
  sluice::OpenOptions o;
  o.create = true;
  auto seg = sluice::Segment::Open(argc > 1 ? argv[1] : "default", o);
  if (!seg.ok()) return std::fprintf(stderr, "%s\n", seg.status().ToString().c_str()), 1;
  auto lim = seg->Define("cpp-api", sluice::LimiterSpec::Gcra(10, 1000000000, 2));
  if (!lim.ok()) return std::fprintf(stderr, "%s\n", lim.status().ToString().c_str()), 1;
  int granted = 0;
  for (int i = 0; i < 5; ++i) granted += lim->TryAcquire(1).granted;
  std::printf("C++ consumer: %d of 5 granted\n", granted);
  return granted == 2 ? 0 : 1;
}
