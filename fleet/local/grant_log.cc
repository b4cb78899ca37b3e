#include "grant_log.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "sluice/limiter.h"
#include "sluice/segment.h"

namespace sluice::fleet {

void SleepUntilNs(int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void PacedWorker(const std::string& ns, const std::string& limiter, int64_t attach_by, int64_t end,
                 const std::function<int64_t(int64_t now)>& gap,
                 const std::function<void(int64_t)>& granted,
                 const std::function<int()>& finished) {
  StatusOr<Limiter> lim = Status(Code::kNotFound, "");
  while (MonotonicNowNs() < attach_by) {
    StatusOr<Segment> seg = Segment::Open(ns);
    if (seg.ok()) lim = seg->Find(limiter);
    if (lim.ok()) break;
    SleepUntilNs(MonotonicNowNs() + 10'000'000);
  }
  if (!lim.ok()) _exit(3);
  for (int64_t t = MonotonicNowNs(); t < end;) {
    const Decision d = lim->TryAcquire(1);
    if (d.granted) granted(d.now_ns);
    t += std::max<int64_t>(gap(t), 1);
    SleepUntilNs(t);
  }
  _exit(finished());
}

bool WriteGrantLog(const std::string& path, const std::vector<int64_t>& times) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(times.data(), sizeof(int64_t), times.size(), f) == times.size();
  return std::fclose(f) == 0 && ok;
}

std::vector<int64_t> ReadGrantLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<int64_t> v;
  int64_t x;
  while (in.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

std::vector<int64_t> MergeGrantLogs(const std::vector<std::string>& paths) {
  std::vector<int64_t> all;
  for (const std::string& p : paths) {
    const std::vector<int64_t> v = ReadGrantLog(p);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  return all;
}

WindowAudit AuditWindows(const std::vector<int64_t>& sorted, int64_t window, uint64_t limit) {
  WindowAudit a;
  for (size_t i = 0, j = 0; i < sorted.size(); ++i) {
    while (sorted[i] - sorted[j] >= window) ++j;  // (sorted[i] - window, sorted[i]]
    const size_t n = i - j + 1;
    a.busiest = std::max(a.busiest, n);
    if (n > limit) ++a.over;
  }
  return a;
}

double Utilisation(const std::vector<int64_t>& sorted, int64_t from, int64_t to, int64_t window,
                   uint64_t limit) {
  const auto n = std::lower_bound(sorted.begin(), sorted.end(), to) -
                 std::lower_bound(sorted.begin(), sorted.end(), from);
  return static_cast<double>(n) / (static_cast<double>(limit) * static_cast<double>(to - from) /
                                   static_cast<double>(window));
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sluice::fleet
