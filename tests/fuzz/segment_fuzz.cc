// libFuzzer target: attaching a segment from arbitrary bytes.
// The input is written as the file /dev/shm/sluice.fuzz-seg-<pid> (seeds:
// real segments, tests/fuzz/make_segment_seeds.cc), then attached and used
// the way workers and sluicectl do: Open (which validates the header), List,
// Find, decisions at injected and real times, a lease taken and given back,
// a live parameter change and a new limiter, and the inspector's read-only
// snapshot. Property: every damage gives a Status or a denial, never a
// crash, an out-of-bounds access, undefined behaviour or a hang.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "layout.h"
#include "platform.h"
#include "sluice/admin/inspect.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"

namespace {

// A slot whose INIT/UPDATING baton is held by a process that may be alive
// (another PID namespace's tag, pid 0, a live pid) makes Define wait 5 s for
// it, by design (segment_test covers that wait). To keep runs fast, batons
// get this PID namespace's tag and a pid that cannot exist, so Define takes
// them over: the repair path is fuzzed instead of the wait.
std::vector<uint8_t> AdjustInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kNoSuchPid = 0x7ffffffe;  // above any pid_max (<= 2^22)
  const uint64_t tag = sluice::platform::PidNamespaceId() & 0xffffff;
  std::vector<uint8_t> b(data, data + size);
  for (size_t off = sluice::kHeaderSize; off + sizeof(sluice::SlotLayout) <= b.size();
       off += sizeof(sluice::SlotLayout)) {
    uint64_t status;
    std::memcpy(&status, &b[off + offsetof(sluice::SlotLayout, status)], sizeof status);
    const uint64_t state = status & 0xff;
    if (state == sluice::kSlotInit || state == sluice::kSlotUpdating) {
      status = (kNoSuchPid << 32) | (tag << 8) | state;
      std::memcpy(&b[off + offsetof(sluice::SlotLayout, status)], &status, sizeof status);
    }
  }
  return b;
}

bool WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < size) {
    const ssize_t w = write(fd, data + done, size - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  close(fd);
  return done == size;
}

// Decisions at a few injected times (forwards, backwards, extremes) and now.
void Exercise(sluice::Limiter& l) {
  (void)l.name();
  const sluice::LimiterSpec spec = l.spec();
  // Injected times go backwards, but stay where a CLOCK_MONOTONIC can be
  // (>= 0 give or take a second): far negative times reach a known class of
  // overflows with damaged words (gcra-negative-now-signed-overflow,
  // sliding-level-..., lease-level-... in regressions/segment_fuzz/open/).
  const int64_t now = sluice::MonotonicNowNs();
  const int64_t times[] = {0, 1, 1000000000, now - 1000000000, INT64_MAX / 4, now, 5};
  for (int64_t t : times) {
    (void)l.TryAcquireAt(1, t);
    (void)l.LevelAt(t);
  }
  (void)l.TryAcquireAt(static_cast<uint32_t>(spec.Capacity() & 0xffffffff) | 1, 7);
  (void)l.TryAcquire(1);
  (void)l.TryAcquire(UINT32_MAX);
  (void)l.stats();
  (void)l.level();
  if (spec.algorithm == sluice::Algorithm::kLease) {
    sluice::StatusOr<sluice::Lease> lease = l.TryAcquireLeaseAt(sluice::MonotonicNowNs());
    if (lease.ok()) {
      (void)l.RenewLease(&*lease);
      (void)l.ReleaseLease(*lease);
    }
  }
  l.FlushStats();
}

// A valid change of the limiter's parameters (same algorithm), applied live.
sluice::LimiterSpec Changed(sluice::LimiterSpec s) {
  switch (s.algorithm) {
    case sluice::Algorithm::kGcra:
      s.rate = s.rate % 1000 + 1;
      s.burst = s.burst % 7 + 1;
      if (!s.Validate().ok()) s = sluice::LimiterSpec::Gcra(3, 1000000, 2);
      break;
    case sluice::Algorithm::kWindow:
      s = sluice::LimiterSpec::Window(s.limit % 5 + 1, 2000000);
      break;
    case sluice::Algorithm::kSliding:
      s = sluice::LimiterSpec::Sliding(s.limit % 5 + 1, 2000000);
      break;
    case sluice::Algorithm::kLease:
      s = sluice::LimiterSpec::Lease(s.holders % 3 + 1, 2000000, s.reclaim);
      break;
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& ns = sluice::fuzz::ProcessNamespace("seg");
  const std::string path = sluice::Segment::PathFor(ns);
  const std::vector<uint8_t> bytes = AdjustInput(data, size);
  if (!WriteFile(path, bytes.data(), bytes.size())) std::abort();

  {
    sluice::StatusOr<sluice::Inspector> insp = sluice::Inspector::Open(ns);
    if (insp.ok()) (void)insp->Take();
  }
  sluice::StatusOr<sluice::Segment> seg = sluice::Segment::Open(ns);
  if (!seg.ok()) return 0;
  (void)seg->Info();
  std::vector<sluice::Limiter> all = seg->List();
  for (sluice::Limiter& l : all) Exercise(l);
  for (const char* name : {"gcra", "window", "sliding", "lease", "lease-reclaim", "x"}) {
    sluice::StatusOr<sluice::Limiter> l = seg->Find(name);
    if (l.ok()) Exercise(*l);
  }
  if (!all.empty()) {
    const std::string name = all.front().name();
    sluice::StatusOr<sluice::Limiter> changed = seg->Define(name, Changed(all.front().spec()));
    if (changed.ok()) Exercise(*changed);
  }
  sluice::StatusOr<sluice::Limiter> fresh =
      seg->Define("fuzz-new", sluice::LimiterSpec::Sliding(2, 1000000));
  if (fresh.ok()) Exercise(*fresh);
  sluice::StatusOr<sluice::Inspector> insp = sluice::Inspector::Open(ns);
  if (insp.ok()) (void)insp->Take();
  return 0;
}
