// Live parameter changes under traffic (issue: "the guarantee through live
// changes"). Four forked workers hammer one limiter with try_acquire,
// blocking acquires and leases while an updater process flaps its
// parameters every 1-4 ms (shrink, grow, shrink, a new window or ttl);
// in the "kill" variant the updater is SIGKILLed at random moments and a
// new one takes over. Every grant is logged with its decision time; every
// change with the times just before and just after it was published.
//
// Checked offline (docs/design.md "Live parameter changes"): in any
// interval, no more grants than the largest bound possibly in force during
// it, and from one window (ttl) after the last change, the last bound alone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "checker.h"
#include "params.h"  // WithAmount
#include "sluice/admin/share.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "stress_support.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;
constexpr int kMaxChanges = 1 << 16;

struct Case {
  const char* name;
  std::vector<LimiterSpec> specs;            // the updater cycles through these
  LimiterSpec final_spec;                    // set last, then held for the tail
  std::vector<LimiterSpec> fast_specs = {};  // for the fast modes, if set
  // The share modes: a global limiter of specs[0]'s shape and caps, whose
  // share cycles through the amounts of these (and ends on final_spec's).
  std::vector<LimiterSpec> share_specs = {};
};

using admin::AmountOf;

// Specs chosen so that each old bug shows as a violation of the largest
// bound: sliding and lease shrink-then-grow (grants dropped on a shrink
// forgotten by the grow), gcra to a slower rate with the same burst (debt
// kept in nanoseconds was forgiven).
std::vector<Case> Cases() {
  return {
      {"gcra",
       {LimiterSpec::Gcra(20000, kSec, 200), LimiterSpec::Gcra(2000, kSec, 200),
        LimiterSpec::Gcra(10000, kSec, 50), LimiterSpec::Gcra(4000, kSec, 100)},
       LimiterSpec::Gcra(2000, kSec, 50),
       {},
       {LimiterSpec::Gcra(20000, kSec, 200), LimiterSpec::Gcra(2000, kSec, 200),
        LimiterSpec::Gcra(10000, kSec, 50), LimiterSpec::Gcra(4000, kSec, 100)}},
      {"window",
       {LimiterSpec::Window(200, 20 * kMs), LimiterSpec::Window(100, 20 * kMs),
        LimiterSpec::Window(200, 40 * kMs), LimiterSpec::Window(60, 20 * kMs)},
       LimiterSpec::Window(50, 20 * kMs),
       {},
       {LimiterSpec::Window(200, 20 * kMs), LimiterSpec::Window(100, 20 * kMs),
        LimiterSpec::Window(150, 20 * kMs), LimiterSpec::Window(60, 20 * kMs)}},
      {"sliding",
       {LimiterSpec::Sliding(100, 50 * kMs), LimiterSpec::Sliding(50, 50 * kMs),
        LimiterSpec::Sliding(100, 50 * kMs), LimiterSpec::Sliding(30, 25 * kMs)},
       LimiterSpec::Sliding(20, 50 * kMs),
       // Fast flaps keep the window: a window shortened again and again
       // faster than it lasts pushes grant times later (docs/design.md).
       {LimiterSpec::Sliding(100, 50 * kMs), LimiterSpec::Sliding(50, 50 * kMs),
        LimiterSpec::Sliding(100, 50 * kMs), LimiterSpec::Sliding(30, 50 * kMs)},
       {LimiterSpec::Sliding(100, 50 * kMs), LimiterSpec::Sliding(50, 50 * kMs),
        LimiterSpec::Sliding(80, 50 * kMs), LimiterSpec::Sliding(30, 50 * kMs)}},
      {"lease",
       {LimiterSpec::Lease(4, 5 * kMs, false), LimiterSpec::Lease(2, 8 * kMs, false),
        LimiterSpec::Lease(4, 8 * kMs, false), LimiterSpec::Lease(3, 5 * kMs, false)},
       LimiterSpec::Lease(2, 5 * kMs, false),
       {},
       {LimiterSpec::Lease(4, 5 * kMs, false), LimiterSpec::Lease(2, 5 * kMs, false),
        LimiterSpec::Lease(4, 5 * kMs, false), LimiterSpec::Lease(3, 5 * kMs, false)}},
  };
}

// One change: `before` is read before Define, `after` once it returned (0:
// the updater was killed first; the change may or may not have happened).
struct Change {
  std::atomic<int64_t> before;
  std::atomic<int64_t> after;
  std::atomic<int32_t> spec;  // index into Case::specs, -1: final_spec
  // Share modes: the share's lapses (0: none) and the amount after each,
  // and the drained time the library reported after the publish.
  std::atomic<int64_t> expires;
  std::atomic<uint64_t> fallback;
  std::atomic<int64_t> fallback_until;
  std::atomic<int64_t> drained;
  std::atomic<int32_t> has_drained;
};

struct Control {
  // The updater's pause between changes: [pause_ns, 2 * pause_ns).
  std::atomic<int64_t> pause_ns{kMs};
  std::atomic<int64_t> start_ns{0};
  std::atomic<int64_t> flap_end_ns{0};
  std::atomic<int64_t> end_ns{0};
  std::atomic<uint32_t> next_change{0};
  std::atomic<uint64_t> blocking_grants{0};
  Change changes[kMaxChanges];
};

const LimiterSpec& SpecOf(const Case& c, int32_t i) { return i < 0 ? c.final_spec : c.specs[i]; }

// Publishes `spec`'s amount as the share of global limiter c.name: held
// until replaced, or (short) for `life`, then a third of it for twice as
// long, then 0, lapsing on the workers' decisions. Records the change.
bool PublishAmount(const Segment& seg, const Case& c, const LimiterSpec& spec, bool short_life,
                   int64_t life, Change* ch) {
  admin::Share share;
  share.amount = AmountOf(spec);
  share.burst = spec.algorithm == Algorithm::kGcra ? spec.burst : 0;
  share.epoch = 1;
  ch->expires.store(0);
  ch->before.store(MonotonicNowNs());
  if (short_life) {
    share.expires_ns = MonotonicNowNs() + life;
    share.fallback_amount = share.amount / 3;
    share.fallback_burst = share.fallback_amount > 0 && spec.algorithm == Algorithm::kGcra
                               ? std::max<uint64_t>(1, share.burst / 3)
                               : 0;
    share.fallback_until_ns = share.expires_ns + 2 * life;
    ch->fallback.store(share.fallback_amount);
    ch->fallback_until.store(share.fallback_until_ns);
    ch->expires.store(share.expires_ns);
  }
  if (Status st = admin::PublishShare(seg, c.name, share); !st.ok()) {
    std::fprintf(stderr, "publish: %s\n", st.ToString().c_str());
    return false;
  }
  ch->after.store(MonotonicNowNs());
  StatusOr<admin::FleetFigures> f = admin::ReadFleet(seg, c.name);
  if (!f.ok()) return false;
  ch->drained.store(f->drained_ns);
  ch->has_drained.store(1);
  return true;
}

// One window / ttl / drain of the largest debt of c's specs.
int64_t TailOf(const Case& c) {
  int64_t tail = 0;
  for (const LimiterSpec& s : c.specs) {
    tail = std::max({tail, s.window_ns, s.ttl_ns, s.algorithm == Algorithm::kGcra ? 50 * kMs : 0});
  }
  return tail;
}

// Defines c.specs[k % n] for k = 1, 2, ... every 1-4 ms until flap_end
// (share modes: publishes their amounts as shares; with `lapses`, every
// other share is short and lives through its fallback and a tail of 0
// before the next, so that each stage binds on its own).
int UpdaterMain(const std::string& ns, const Case& c, Control* ctl, uint64_t seed, bool shares,
                bool lapses) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  Rng rng(seed);
  for (;;) {
    const int64_t now = MonotonicNowNs();
    if (now >= ctl->flap_end_ns.load()) return 0;
    const uint32_t k = ctl->next_change.fetch_add(1);
    if (k >= kMaxChanges) return 3;
    Change& ch = ctl->changes[k];
    const int32_t idx = int32_t(k % c.specs.size());
    ch.spec.store(idx);
    const int64_t pause = ctl->pause_ns.load();
    if (shares && lapses) {
      const bool short_life = k % 2 == 1;
      const int64_t tail = TailOf(c);
      if (!PublishAmount(*seg, c, c.specs[idx], short_life, tail, &ch)) return 4;
      if (short_life) {
        SleepUntilNs(ch.fallback_until.load() + tail + int64_t(rng.Below(uint64_t(tail))));
        continue;
      }
    } else if (shares) {
      if (!PublishAmount(*seg, c, c.specs[idx], k % 4 == 3, pause / 2, &ch)) return 4;
    } else {
      ch.before.store(MonotonicNowNs());
      if (!seg->Define(c.name, c.specs[idx]).ok()) return 4;
      ch.after.store(MonotonicNowNs());
    }
    SleepUntilNs(MonotonicNowNs() + pause + int64_t(rng.Below(uint64_t(2 * pause))));
  }
}

int WorkerMain(int i, const std::string& ns, const Case& c, Control* ctl, GrantLog* log) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  StatusOr<Limiter> lim = seg->Find(c.name);
  if (!lim.ok()) return 3;
  const bool lease = c.final_spec.algorithm == Algorithm::kLease;
  int64_t ttl_min = INT64_MAX;
  for (const LimiterSpec& s : c.specs) ttl_min = std::min(ttl_min, s.ttl_ns);
  Rng rng(0xf1a90000u + uint64_t(i) * 7919);
  SleepUntilNs(ctl->start_ns.load());
  const int64_t end = ctl->end_ns.load();
  for (int64_t now = MonotonicNowNs(); now < end; now = MonotonicNowNs()) {
    const uint64_t what = rng.Below(8);
    Grant g;
    g.worker = i;
    if (lease && what < 3) {
      StatusOr<Lease> l = lim->AcquireLease(2 * kMs);
      if (!l.ok()) {
        if (l.status().code() != Code::kTimeout) return 4;
        continue;
      }
      g.seen = MonotonicNowNs();
      g.t = l->granted_ns;
      g.token = l->token;
      g.end = l->expires_ns;
      const int64_t idx = log->Append(g);
      const int64_t until = MonotonicNowNs() + int64_t(rng.Below(2 * kMs));
      while (MonotonicNowNs() < until) {
      }
      // Read before the release: never later than the real release.
      log->SetEnd(idx, std::min(MonotonicNowNs(), l->expires_ns));
      if (!lim->ReleaseLease(*l).ok()) log->SetEnd(idx, l->expires_ns);
      continue;
    }
    const uint32_t n = rng.Below(4) == 0 ? 2 : 1;
    if (what == 7) {
      // Blocking: a reservation slept out (gcra, sliding) or a wait.
      int64_t at = 0;
      const int64_t asked_at = MonotonicNowNs();
      Status s = lim->Acquire(n, 3 * kMs, {}, &at);
      if (!s.ok()) {
        if (s.code() != Code::kTimeout) return 5;
        continue;
      }
      g.t = at;
      if (!lease) g.end = asked_at;  // diagnostics: when the blocking call began
      ctl->blocking_grants.fetch_add(1);
    } else {
      const Decision d = lim->TryAcquire(n);
      if (!d.granted) continue;
      g.t = d.now_ns;
    }
    g.seen = MonotonicNowNs();
    g.permits = n;
    // Anonymous lease permits lapse at t + the ttl of the record used:
    // the shortest ttl is a lower bound (can only hide an overlap).
    if (lease) g.end = g.t + ttl_min;
    log->Append(g);
  }
  return 0;
}

// Which specs may have been in force when: spec of change k from its
// `before` until the `after` of the next completed change. In the share
// modes a share that lapsed before the next change began adds its
// fallback and then 0, each in force from the lapse on (the first decision
// at or after it applies the next stage; decisions at or after it wait).
class Schedule {
 public:
  Schedule(const Case& c, const Control& ctl, bool shares) {
    const uint32_t n = std::min<uint32_t>(ctl.next_change.load(), kMaxChanges);
    for (uint32_t k = 0; k < n; ++k) {
      const Change& ch = ctl.changes[k];
      const LimiterSpec& spec = SpecOf(c, ch.spec.load());
      entries_.push_back({ch.before.load(), ch.after.load(), INT64_MAX, spec});
      const int64_t next_before = k + 1 < n ? ctl.changes[k + 1].before.load() : INT64_MAX;
      const int64_t e = ch.expires.load();
      if (!shares || e == 0 || ch.after.load() == 0 || e >= next_before) continue;
      // A stage cannot begin before the share is published (a publish may
      // take longer than the share's life): each is done by the later of
      // its time and the publish's `after`, so `until` keeps growing.
      const int64_t after = ch.after.load();
      const uint64_t fb = ch.fallback.load();
      entries_.push_back(
          {e, std::max(e, after), INT64_MAX,
           WithAmount(spec, fb, fb == 0 ? 0 : std::max<uint64_t>(1, spec.burst / 3))});
      const int64_t e2 = ch.fallback_until.load();
      if (e2 < next_before) {
        entries_.push_back({e2, std::max(e2, after), INT64_MAX, WithAmount(spec, 0, 0)});
      }
    }
    int64_t next_after = INT64_MAX;
    for (size_t k = entries_.size(); k-- > 0;) {
      entries_[k].until = next_after;
      if (entries_[k].after != 0) next_after = entries_[k].after;
    }
  }
  size_t size() const { return entries_.size(); }
  int64_t last_after() const { return entries_.back().after; }
  // The entries near [a, b], for a violation's message.
  void Describe(int64_t a, int64_t b, std::string* out) const {
    const size_t first = First(a);
    for (size_t k = first > 2 ? first - 2 : 0; k < entries_.size() && k < first + 4; ++k) {
      const Entry& e = entries_[k];
      *out += "\n  [" + std::to_string(k) + "] before " + std::to_string(e.before - a) + " after " +
              (e.after == 0 ? std::string("-") : std::to_string(e.after - a)) + " until " +
              (e.until == INT64_MAX ? std::string("-") : std::to_string(e.until - a)) + " " +
              e.spec.Describe();
    }
    (void)b;
  }

  // The first change possibly still in force at time a (`until` grows
  // with k, as changes are made one after another).
  size_t First(int64_t a) const {
    return std::partition_point(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return e.until < a; }) -
           entries_.begin();
  }
  // Change k's spec if it was possibly in force by time b, else nullptr.
  const LimiterSpec* At(size_t k, int64_t b) const {
    return k < entries_.size() && entries_[k].before <= b ? &entries_[k].spec : nullptr;
  }
  // Calls f(spec) for each spec possibly in force at some time in [a, b].
  template <typename F>
  void ForEach(int64_t a, int64_t b, F f) const {
    for (size_t k = First(a); const LimiterSpec* s = At(k, b); ++k) f(*s);
  }
  template <typename F>
  uint64_t Max(int64_t a, int64_t b, F bound) const {
    uint64_t m = 0;
    ForEach(a, b, [&](const LimiterSpec& s) { m = std::max<uint64_t>(m, bound(s)); });
    return m;
  }

 private:
  struct Entry {
    int64_t before;
    int64_t after;
    int64_t until;
    LimiterSpec spec;
  };
  std::vector<Entry> entries_;
};

std::string Describe(const Grant& g) {
  return "grant at " + std::to_string(g.t) + " by worker " + std::to_string(g.worker);
}

// sliding: every interval [t, t + w), for each window length w of the
// specs, holds at most the largest limit * ceil(w / window) among the specs
// in force during it.
CheckResult CheckSlidingSchedule(const std::vector<Grant>& g, const Schedule& sched, int64_t w,
                                 int64_t from, uint64_t limit_from) {
  CheckResult r;
  size_t j = 0;
  uint64_t in = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (j < i) {
      j = i;
      in = 0;
    }
    while (j < g.size() && g[j].t < g[i].t + w) in += g[j++].permits;
    // Each spec allows limit * ceil(w / its window) in an interval of w.
    const uint64_t bound =
        g[i].t >= from ? limit_from : sched.Max(g[i].t, g[i].t + w, [w](const LimiterSpec& s) {
          return s.limit * uint64_t((w + s.window_ns - 1) / s.window_ns);
        });
    if (in > bound) {
      std::string detail;
      for (size_t k = i; k < j && r.violations == 0; ++k) {
        detail += "\n  t+" + std::to_string(g[k].t - g[i].t) + " w" + std::to_string(g[k].worker) +
                  " n" + std::to_string(g[k].permits) + " seen+" +
                  std::to_string(g[k].seen - g[k].t);
      }
      std::string changes;
      sched.ForEach(g[i].t, g[i].t + w,
                    [&](const LimiterSpec& s) { changes += " " + s.Describe(); });
      r.Violation(std::to_string(in) + " permits in [" + std::to_string(g[i].t) + ", +" +
                  std::to_string(w) + ") > " + std::to_string(bound) + " (" + Describe(g[i]) +
                  "); in force:" + changes + detail);
    }
    in -= g[i].permits;
  }
  return r;
}

// window: every aligned window of each length w of the specs holds at most
// the largest limit * ceil(w / window) among the specs in force during it
// (a new window length counts the window of the change as full).
CheckResult CheckWindowSchedule(const std::vector<Grant>& g, const Schedule& sched, int64_t w,
                                int64_t from, uint64_t limit_from) {
  CheckResult r;
  std::map<int64_t, uint64_t> per;
  for (const Grant& x : g) {
    // Every grant, by the time the library dated it: a grant with a stale
    // clock is dated at the start of the window it was counted in.
    per[x.t / w] += x.permits;
  }
  for (const auto& [k, n] : per) {
    // Each spec allows limit * ceil(w / its window) in an aligned w-window.
    const uint64_t bound =
        k * w >= from ? limit_from : sched.Max(k * w, (k + 1) * w - 1, [w](const LimiterSpec& s) {
          return s.limit * uint64_t((w + s.window_ns - 1) / s.window_ns);
        });
    if (n > bound) {
      std::string changes;
      sched.ForEach(k * w, (k + 1) * w - 1,
                    [&](const LimiterSpec& s) { changes += " " + s.Describe(); });
      r.Violation(std::to_string(n) + " permits in window " + std::to_string(k) + " > " +
                  std::to_string(bound) + "; in force:" + changes);
    }
  }
  return r;
}

// gcra: every interval [a, b] up to `horizon` long holds at most the
// largest burst plus the largest rate times its length among the specs in
// force during it (gcra.h invariant 6). Intervals starting at or after
// `from` hold the final spec's bound.
CheckResult CheckGcraSchedule(const std::vector<Grant>& g, const Schedule& sched, int64_t horizon,
                              int64_t from, const LimiterSpec& fin) {
  CheckResult r;
  for (size_t i = 0; i < g.size(); ++i) {
    uint64_t permits = 0;
    uint64_t burst = 0;
    double rate = 0;
    size_t k = sched.First(g[i].t);  // next change to take into the maxima
    for (size_t j = i; j < g.size() && g[j].t - g[i].t <= horizon; ++j) {
      permits += g[j].permits;
      const int64_t len = g[j].t - g[i].t;
      double bound;
      if (g[i].t >= from) {
        bound = double(fin.burst) + double(fin.rate) * double(len) / double(fin.period_ns);
      } else {
        for (; const LimiterSpec* s = sched.At(k, g[j].t); ++k) {
          burst = std::max(burst, s->burst);
          rate = std::max(rate, double(s->rate) / double(s->period_ns));
        }
        bound = double(burst) + rate * double(len);
      }
      // + 1e-6: the permit cost is rounded up, so the library is stricter.
      if (double(permits) > bound + 1e-6) {
        std::string changes;
        sched.Describe(g[i].t, g[j].t, &changes);
        r.Violation(std::to_string(permits) + " permits in [" + std::to_string(g[i].t) + ", " +
                    std::to_string(g[j].t) + "] > " + std::to_string(bound) + " (" +
                    Describe(g[j]) + ", seen +" + std::to_string(g[j].seen - g[j].t) +
                    (g[j].end != 0 ? ", blocking, asked at " + std::to_string(g[j].end - g[j].t)
                                   : std::string(", try")) +
                    "); changes around:" + changes);
        break;
      }
    }
  }
  return r;
}

// lease: at each grant's start, the leases held at that moment (real time:
// [seen, end)) number at most the largest holder count in force since the
// earliest of them was granted.
CheckResult CheckLeaseSchedule(std::vector<Grant> g, const Schedule& sched, int64_t from,
                               uint64_t holders_from) {
  // Held over [seen, end) in real time; the parameters it was granted under
  // are those in force at its decision time t (a lease granted just before a
  // shrink stays held after it: carried, never revoked).
  std::sort(g.begin(), g.end(), [](const Grant& a, const Grant& b) { return a.seen < b.seen; });
  CheckResult r;
  std::vector<const Grant*> held;
  for (const Grant& x : g) {
    if (x.end <= x.seen) continue;
    held.erase(
        std::remove_if(held.begin(), held.end(), [&](const Grant* h) { return h->end <= x.seen; }),
        held.end());
    held.push_back(&x);
    uint64_t n = 0;
    int64_t earliest = x.t;
    for (const Grant* h : held) {
      n += h->permits;
      earliest = std::min(earliest, h->t);
    }
    const uint64_t bound =
        earliest >= from
            ? holders_from
            : sched.Max(earliest, x.seen, [](const LimiterSpec& s) { return s.holders; });
    if (n > bound) {
      r.Violation(std::to_string(n) + " held at " + std::to_string(x.seen) + " > " +
                  std::to_string(bound) + " (" + Describe(x) + ")");
    }
  }
  return r;
}

// Share modes: from the drained time the library reported after each
// share's publish until the next change began, the host uses no more than
// that share's amount (its fallback, if it lapses, is smaller): sliding,
// the grants in (t - window, t] at every grant time t; window, each whole
// aligned window; lease, the leases held at each grant.
CheckResult CheckDrained(const std::vector<Grant>& g, const Case& c, const Control& ctl) {
  CheckResult r;
  const uint32_t n = std::min<uint32_t>(ctl.next_change.load(), kMaxChanges);
  std::vector<Grant> leases = g;
  for (Grant& x : leases) x.t = x.seen;
  std::sort(leases.begin(), leases.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  for (uint32_t k = 0; k < n; ++k) {
    const Change& ch = ctl.changes[k];
    if (ch.has_drained.load() == 0) continue;
    const LimiterSpec& spec = SpecOf(c, ch.spec.load());
    const uint64_t amount = AmountOf(spec);
    const int64_t from = std::max(ch.drained.load(), ch.after.load());
    const int64_t to = k + 1 < n ? ctl.changes[k + 1].before.load() : INT64_MAX;
    auto fail = [&](uint64_t used, int64_t at) {
      r.Violation("change " + std::to_string(k) + " (" + spec.Describe() +
                  "): " + std::to_string(used) + " in use at " + std::to_string(at) +
                  ", after its drained time " + std::to_string(from));
    };
    switch (spec.algorithm) {
      case Algorithm::kSliding: {
        // Usage only falls between grants: its highest values after `from`
        // are at `from` itself and at grants.
        uint64_t at_from = 0;
        for (const Grant& x : g) {
          if (x.t > from - spec.window_ns && x.t <= from) at_from += x.permits;
        }
        if (from < to && at_from > amount) fail(at_from, from);
        size_t lo = 0;
        uint64_t in = 0;
        for (size_t j = 0; j < g.size() && g[j].t < to; ++j) {
          in += g[j].permits;
          while (g[lo].t <= g[j].t - spec.window_ns) in -= g[lo++].permits;
          if (g[j].t >= from && in > amount) fail(in, g[j].t);
        }
        break;
      }
      case Algorithm::kWindow: {
        std::map<int64_t, uint64_t> per;
        for (const Grant& x : g) per[x.t / spec.window_ns] += x.permits;
        for (const auto& [w, used] : per) {
          const int64_t start = w * spec.window_ns;
          if (start >= from && start + spec.window_ns <= to && used > amount) fail(used, start);
        }
        break;
      }
      case Algorithm::kLease: {
        std::vector<const Grant*> held;
        for (const Grant& x : leases) {
          if (x.t >= to) break;
          held.erase(std::remove_if(held.begin(), held.end(),
                                    [&](const Grant* h) { return h->end <= x.t; }),
                     held.end());
          if (x.end > x.t) held.push_back(&x);
          uint64_t used = 0;
          for (const Grant* h : held) used += h->permits;
          if (x.t >= from && used > amount) fail(used, x.t);
        }
        break;
      }
      case Algorithm::kGcra:
        break;  // drained: the debt paid at the new rate (docs/fleet.md)
    }
  }
  return r;
}

// Modes: fast flaps (a change every 1-3 ms, so every interval sees most
// specs), the same with the updaters SIGKILLed at random moments, and slow
// flaps (a change every 0.5-1.5 of the longest window or ttl, so an interval sees
// one or two specs and each shrink binds on its own).
// The share modes: a global limiter's share changes slowly, every other
// share lapsing (on the workers' decisions) to its fallback and then to 0
// for long enough that each stage binds on its own; and fast (with kills),
// some shares lapsing between changes.
enum Mode { kFast = 0, kFastKills = 1, kSlow = 2, kShares = 3, kSharesKills = 4 };

class LiveChangeTest : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(LiveChangeTest, GuaranteeHoldsWhileParametersFlap) {
  if (kTsan) GTEST_SKIP() << "forks an updater and workers; TSan runs the threaded stress tests";
  const int mode = std::get<1>(GetParam());
  Case c = Cases()[std::get<0>(GetParam())];
  if (mode != kSlow && !c.fast_specs.empty()) c.specs = c.fast_specs;
  const bool shares = mode == kShares || mode == kSharesKills;
  if (shares) c.specs = c.share_specs;
  const bool kill = mode == kFastKills || mode == kSharesKills;
  const int workers = StressWorkers(4);
  const double seconds = StressSeconds(1.2);

  testing::ScopedNamespace ns(std::string("flap-") + c.name);
  Segment seg = ns.Open();
  LimiterSpec declared = c.specs[0];
  declared.global = shares;  // caps: the largest amounts (specs[0])
  ASSERT_TRUE(seg.Define(c.name, declared).ok());
  Shared<Control> ctl;
  GrantLog log(size_t(2e6 * std::max(1.0, seconds)));
  {
    Change& ch = ctl->changes[ctl->next_change.fetch_add(1)];
    ch.spec = 0;
    if (shares) {
      ASSERT_TRUE(PublishAmount(seg, c, c.specs[0], false, 0, &ch));
    } else {
      ch.before = ch.after = MonotonicNowNs();
    }
  }
  const int64_t tail = TailOf(c);
  if (mode == kSlow || mode == kShares) ctl->pause_ns = std::max<int64_t>(tail / 2, 10 * kMs);
  const int64_t start = MonotonicNowNs() + 50 * kMs;
  ctl->start_ns = start;
  ctl->flap_end_ns = start + int64_t(seconds * 1e9);
  ctl->end_ns = ctl->flap_end_ns + 3 * tail + 50 * kMs;

  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) {
    pids.push_back(ForkChild([&, i] { return WorkerMain(i, ns.ns(), c, &*ctl, &log); }));
  }
  // The updaters: one for the whole flap, or a chain of ones SIGKILLed at
  // random moments (mid-change too) while others keep going.
  SleepUntilNs(start);
  Rng rng(kill ? 0xdead : 0xa11);
  int kills = 0;
  for (int round = 0; MonotonicNowNs() < ctl->flap_end_ns.load(); ++round) {
    const pid_t up = ForkChild(
        [&, round] { return UpdaterMain(ns.ns(), c, &*ctl, 77 + round, shares, mode == kShares); });
    int status = 0;
    if (kill) {
      const bool done =
          WaitExit(up, MonotonicNowNs() + 5 * kMs + int64_t(rng.Below(40 * kMs)), &status);
      if (!done) {
        ::kill(up, SIGKILL);
        ASSERT_TRUE(WaitExit(up, MonotonicNowNs() + 5 * kSec, &status));
        ++kills;
        continue;
      }
    } else {
      ASSERT_TRUE(WaitExit(up, ctl->flap_end_ns.load() + 10 * kSec, &status));
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "updater status " << status;
  }
  // The last change: the final spec, by this process (never killed).
  {
    Change& ch = ctl->changes[ctl->next_change.fetch_add(1)];
    ch.spec = -1;
    if (shares) {
      ASSERT_TRUE(PublishAmount(seg, c, c.final_spec, false, 0, &ch));
    } else {
      ch.before = MonotonicNowNs();
      ASSERT_TRUE(seg.Define(c.name, c.final_spec).ok());
      ch.after = MonotonicNowNs();
    }
  }
  for (pid_t p : pids) {
    int status = 0;
    ASSERT_TRUE(WaitExit(p, ctl->end_ns.load() + 30 * kSec, &status)) << "worker hung";
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker status " << status;
  }
  ASSERT_EQ(log.overflowed(), 0u);
  std::vector<Grant> grants = log.Committed();
  std::sort(grants.begin(), grants.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  const Schedule sched(c, *ctl, shares);
  const int64_t settled = sched.last_after() + tail;  // the final bound alone from here

  std::set<int32_t> who;
  uint64_t flap_grants = 0, tail_grants = 0;
  for (const Grant& g : grants) {
    who.insert(g.worker);
    (g.t < ctl->flap_end_ns.load() ? flap_grants : tail_grants) += 1;
  }
  CheckResult r;
  const LimiterSpec& fin = c.final_spec;
  int64_t w_min = INT64_MAX;
  for (const LimiterSpec& s : c.specs) w_min = std::min(w_min, s.window_ns);
  switch (fin.algorithm) {
    case Algorithm::kGcra:
      r = CheckGcraSchedule(grants, sched, 20 * kMs, settled, fin);
      break;
    case Algorithm::kWindow: {
      std::set<int64_t> windows;
      for (const LimiterSpec& s : c.specs) windows.insert(s.window_ns);
      for (int64_t w : windows) {
        // After settling, the final spec alone: checked in its own windows.
        const bool final_w = w == fin.window_ns;
        const CheckResult rw = CheckWindowSchedule(grants, sched, w, final_w ? settled : INT64_MAX,
                                                   final_w ? fin.limit : 0);
        r.violations += rw.violations;
        if (r.first_violation.empty()) r.first_violation = rw.first_violation;
      }
      break;
    }
    case Algorithm::kSliding: {
      std::set<int64_t> windows;
      for (const LimiterSpec& s : c.specs) windows.insert(s.window_ns);
      for (int64_t w : windows) {
        const CheckResult rw = CheckSlidingSchedule(grants, sched, w, INT64_MAX, 0);
        r.violations += rw.violations;
        if (r.first_violation.empty()) r.first_violation = rw.first_violation;
      }
      // Settled: the final window and limit alone.
      std::vector<Grant> late;
      for (const Grant& g : grants) {
        if (g.t >= settled) late.push_back(g);
      }
      const CheckResult f = CheckSliding(late, fin.limit, fin.window_ns);
      if (f.violations > 0) r.Violation("after settling: " + f.first_violation);
      break;
    }
    case Algorithm::kLease:
      r = CheckLeaseSchedule(grants, sched, settled, fin.holders);
      break;
  }
  if (shares) {
    const CheckResult d = CheckDrained(grants, c, *ctl);
    if (d.violations > 0) r.Violation("drained: " + d.first_violation);
    r.violations += d.violations > 0 ? d.violations - 1 : 0;
  }
  std::printf(
      "[stress] live-change %s%s: %zu changes (%d updaters killed), %llu grants while "
      "flapping, %llu after, %llu blocking, %zu workers granted, %llu violations\n",
      c.name,
      mode == kShares        ? " (shares)"
      : mode == kSharesKills ? " (shares, kills)"
      : kill                 ? " (kills)"
      : mode == kSlow        ? " (slow)"
                             : "",
      sched.size(), kills, (unsigned long long)flap_grants, (unsigned long long)tail_grants,
      (unsigned long long)ctl->blocking_grants.load(), who.size(),
      (unsigned long long)r.violations);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_GT(sched.size(), mode == kSlow || mode == kShares ? 8u : 50u)
      << "the parameters hardly changed";
  if (kill) {
    EXPECT_GT(kills, 5);
  }
  EXPECT_GT(who.size(), 1u) << "only one worker was ever granted";
  EXPECT_GT(flap_grants, 100u);
  EXPECT_GT(tail_grants, 10u);
}

std::string Name(const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
  static const char* const kSuffix[] = {"", "_kills", "_slow", "_shares", "_shares_kills"};
  return std::string(Cases()[std::get<0>(info.param)].name) + kSuffix[std::get<1>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Algorithms, LiveChangeTest,
                         ::testing::Combine(::testing::Range(0, 4), ::testing::Range(0, 5)), Name);

}  // namespace
}  // namespace sluice::stress
