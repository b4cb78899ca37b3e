// A limit changed by SIGHUP under load, end to end on 127.0.0.1: one
// sluice-allotter, two hosts (a namespace and a sluice-forwarder each), two
// worker processes per host asking far above the limit and logging every
// grant's CLOCK_MONOTONIC time (one clock: the merged log is exact). The
// limit (per 100 ms, sliding) goes 20 -> 10 -> 30 by SIGHUP; host 1 asks
// little until the limit is lowered, then as much as host 0. Offline: no
// window of the merged log holds more than the largest limit that can
// still be in use (an old limit counts until the reload was logged plus
// lease + tail), and each limit is reached once in force.
#include <time.h>

#include <algorithm>

#include "ops_fixture.h"

namespace sluice::fleet {
namespace {

using std::chrono::seconds;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kWindow = 100 * kMs;
// An old limit can be in use until the allotter applied the new one plus
// Stretch(lease 1 s) + tail (one window); with a margin.
constexpr int64_t kTransition = 1'300 * kMs;

int64_t Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntil(int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Asks 10 times a second until `fast`, then 400 times a second until `end`,
// writing every grant's time to `out`.
[[noreturn]] void Worker(const std::string& ns, int64_t fast, int64_t end, const std::string& out) {
  StatusOr<Limiter> lim = Status(Code::kNotFound, "");
  while (Now() < end) {
    StatusOr<Segment> seg = Segment::Open(ns);
    if (seg.ok()) lim = seg->Find("api");
    if (lim.ok()) break;
    SleepUntil(Now() + 10 * kMs);
  }
  if (!lim.ok()) _exit(3);
  std::vector<int64_t> grants;
  for (int64_t t = Now(); t < end; t += t < fast ? 100 * kMs : 2'500'000) {
    const Decision d = lim->TryAcquire(1);
    if (d.granted) grants.push_back(d.now_ns);
    SleepUntil(t);
  }
  FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) _exit(4);
  std::fwrite(grants.data(), sizeof(int64_t), grants.size(), f);
  std::fclose(f);
  _exit(0);
}

struct Change {
  int64_t signalled;  // the new limit may be in force from here
  int64_t applied;    // the allotter logged it by here
  uint64_t limit;
};

TEST_F(FleetOps, ALimitChangedBySighupIsNeverExceededUnderLoad) {
  const int port = FreeLoopbackPort();
  const std::string tok = "token_file = \"" + Write("token", "s3cret\n") + "\"\n";
  const std::string cfg = Write("a.toml", AllotterToml(port, 20, tok));
  const pid_t a = Start("sluice-allotter", {"--config", cfg}, "a.log");
  testing::ScopedNamespace ns[2] = {testing::ScopedNamespace("rl0"),
                                    testing::ScopedNamespace("rl1")};
  for (int h = 0; h < 2; ++h) {
    const std::string b = "h" + std::to_string(h);
    Write(b + ".toml", BudgetToml(ns[h].ns(), port, tok));
    Start("sluice-forwarder", {"--budget", Path(b + ".toml"), "--host-id", b}, b + ".log");
  }
  const int64_t start = Now();
  const int64_t end = start + 11'000 * kMs;
  std::vector<pid_t> workers;
  std::vector<std::string> logs;
  for (int h = 0; h < 2; ++h) {
    for (int w = 0; w < 2; ++w) {
      logs.push_back(Path("grants-" + std::to_string(h) + "-" + std::to_string(w)));
      const pid_t p = ForkTied();
      // Host 1 asks little until the limit is lowered, then as much as
      // host 0: it must not grow into what host 0 may still be using.
      if (p == 0) Worker(ns[h].ns(), h == 0 ? start : start + 4'000 * kMs, end, logs.back());
      workers.push_back(p);
    }
  }
  std::vector<Change> changes = {{start, start, 20}};
  // Rewrites the limit at `at`, signals, and waits for the reload's log line.
  auto reloads = [&] {
    const std::string log = Read("a.log");
    size_t n = 0;
    for (size_t p = log.find("reloaded "); p != std::string::npos;
         p = log.find("reloaded ", p + 1)) {
      ++n;
    }
    return n;
  };
  auto change = [&](int64_t at, uint64_t limit) {
    SleepUntil(at);
    Write("a.toml", AllotterToml(port, limit, tok));
    const size_t before = reloads();
    const int64_t signalled = Now();
    kill(a, SIGHUP);
    ASSERT_TRUE(testing::WaitFor([&] { return reloads() > before; }, seconds(5))) << Read("a.log");
    changes.push_back({signalled, Now(), limit});
  };
  change(start + 4'000 * kMs, 10);
  change(start + 7'500 * kMs, 30);
  for (pid_t p : workers) {
    EXPECT_EQ(Wait(p, seconds(30)), 0) << "worker";
  }
  std::vector<int64_t> all;
  for (const std::string& l : logs) {
    std::ifstream in(l, std::ios::binary);
    int64_t x;
    while (in.read(reinterpret_cast<char*>(&x), sizeof x)) all.push_back(x);
  }
  std::sort(all.begin(), all.end());
  // The largest limit that may be in use at t.
  auto allowed = [&](int64_t t) {
    uint64_t m = 0;
    for (size_t i = 0; i < changes.size(); ++i) {
      const bool begun = changes[i].signalled <= t;
      const bool over = i + 1 < changes.size() && changes[i + 1].applied + kTransition < t;
      if (begun && !over) m = std::max(m, changes[i].limit);
    }
    return m;
  };
  size_t over = 0;
  uint64_t busiest[3] = {0, 0, 0};  // once each limit is alone in force
  for (size_t i = 0, j = 0; i < all.size(); ++i) {
    while (all[i] - all[j] >= kWindow) ++j;
    const uint64_t n = i - j + 1;
    if (n > allowed(all[i])) {
      if (over++ < 5)
        ADD_FAILURE() << "at " << (all[i] - start) / kMs << " ms: " << n << " > "
                      << allowed(all[i]);
    }
    for (size_t c = 0; c < changes.size(); ++c) {
      const int64_t from = changes[c].applied + kTransition;
      const int64_t to = c + 1 < changes.size() ? changes[c + 1].signalled : end;
      if (all[i] >= from && all[i] < to) busiest[c] = std::max(busiest[c], n);
    }
  }
  std::printf(
      "fleet reload e2e: %zu grants; windows over the limit: %zu; busiest window with the limit at "
      "20: %llu, at 10: %llu, at 30: %llu\n",
      all.size(), over, static_cast<unsigned long long>(busiest[0]),
      static_cast<unsigned long long>(busiest[1]), static_cast<unsigned long long>(busiest[2]));
  EXPECT_EQ(over, 0u) << Read("a.log");
  // Not vacuous: each limit was reached while it was in force alone.
  EXPECT_GE(busiest[0], 18u);
  EXPECT_GE(busiest[1], 9u);
  EXPECT_GE(busiest[2], 27u);
}

}  // namespace
}  // namespace sluice::fleet
