// Calls every function of every installed C++ header (<sluice/status.h>,
// duration.h, limiter_spec.h, limiter.h, segment.h), linked against the
// installed shared libsluice (sluice::sluice). A function the library does
// not export fails the link; a wrong result exits 1.
// usage: public_api NAMESPACE (created and removed here).
#include <sluice/duration.h>
#include <sluice/limiter.h>
#include <sluice/limiter_spec.h>
#include <sluice/segment.h>
#include <sluice/status.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

int failures = 0;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "public_api.cc:%d: CHECK(%s) failed\n", __LINE__, #cond); \
      ++failures;                                                                    \
    }                                                                                \
  } while (0)

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool AlwaysCancel(void*) { return true; }

// status.h
void StatusApi() {
  sluice::Status ok;
  CHECK(ok.ok() && ok.code() == sluice::Code::kOk && ok.message().empty());
  CHECK(sluice::Status::OK().ok());
  CHECK(ok.ToString() == "OK");
  sluice::Status nf(sluice::Code::kNotFound, "no such thing");
  CHECK(!nf.ok() && nf.code() == sluice::Code::kNotFound && nf.message() == "no such thing");
  CHECK(Contains(nf.ToString(), "NotFound") && Contains(nf.ToString(), "no such thing"));
  CHECK(std::string(sluice::CodeName(sluice::Code::kInvalidArgument)) == "InvalidArgument");
  CHECK(std::string(sluice::CodeName(sluice::Code::kTimeout)) == "Timeout");

  sluice::StatusOr<int> v(7);
  CHECK(v.ok() && v.status().ok() && v.value() == 7 && *v == 7);
  sluice::StatusOr<std::string> e(nf);
  CHECK(!e.ok() && e.status().code() == sluice::Code::kNotFound);
  sluice::StatusOr<std::string> s(std::string("abc"));
  CHECK(s->size() == 3 && std::move(s).value() == "abc");
}

// duration.h
void DurationApi() {
  auto d = sluice::ParseDuration("800ms");
  CHECK(d.ok() && *d == 800 * sluice::kNanosPerMilli);
  CHECK(!sluice::ParseDuration("800").ok());
  CHECK(!sluice::ParseDuration("-1s").ok());
  CHECK(sluice::FormatDuration(800 * sluice::kNanosPerMilli) == "800ms");
  CHECK(sluice::FormatDuration(1500) == "1500ns");
  CHECK(!sluice::FormatDurationShort(1250 * sluice::kNanosPerMicro).empty());
  CHECK(Contains(sluice::FormatDurationShort(3 * sluice::kNanosPerSecond), "s"));
}

// limiter_spec.h
void SpecApi() {
  using sluice::Algorithm;
  CHECK(std::string(sluice::AlgorithmName(Algorithm::kSliding)) == "sliding");
  CHECK(sluice::AlgorithmName(static_cast<Algorithm>(99)) == nullptr);
  CHECK(sluice::ParseAlgorithm("lease") == Algorithm::kLease);
  CHECK(!sluice::ParseAlgorithm("bucket").has_value());

  sluice::LimiterSpec g = sluice::LimiterSpec::Gcra(10, sluice::kNanosPerSecond, 3);
  sluice::LimiterSpec w = sluice::LimiterSpec::Window(5, sluice::kNanosPerSecond);
  sluice::LimiterSpec s = sluice::LimiterSpec::Sliding(5, 800 * sluice::kNanosPerMilli);
  sluice::LimiterSpec l = sluice::LimiterSpec::Lease(2, 10 * sluice::kNanosPerSecond, true);
  for (const sluice::LimiterSpec* spec : {&g, &w, &s, &l}) {
    CHECK(spec->Validate().ok());
    auto back = sluice::ParseSpec(spec->ToToml());
    CHECK(back.ok() && *back == *spec);
  }
  CHECK(g.Capacity() == 3 && w.Capacity() == 5 && s.Capacity() == 5 && l.Capacity() == 2);
  CHECK(s.Describe() == "sliding limit=5 window=800ms");
  CHECK(s.CheckPermits(5).ok() && s.CheckPermits(0).code() == sluice::Code::kInvalidArgument);
  CHECK(s.CheckPermits(6).message() ==
        "6 permits can never be granted by sliding limit=5 window=800ms (capacity 5)");
  CHECK(!(g == w));
  CHECK(!sluice::LimiterSpec::Window(0, sluice::kNanosPerSecond).Validate().ok());

  auto parsed = sluice::ParseSpec("algorithm=\"window\"\nlimit=2", "mine");
  CHECK(!parsed.ok() && parsed.status().code() == sluice::Code::kInvalidArgument &&
        Contains(parsed.status().message(), "mine:"));

  CHECK(sluice::ValidateName("api.v2-users_1", "limiter").ok());
  CHECK(!sluice::ValidateName(".hidden", "limiter").ok());
  CHECK(!sluice::ValidateName("", "namespace").ok());
}

// limiter.h, through limiters of segment `seg`.
void LimiterApi(sluice::Segment& seg) {
  CHECK(!sluice::Limiter().valid());

  // gcra: 1 per second, burst 1; injected time (from after the definition:
  // a decision is dated no earlier than the parameters it is made under).
  auto g = seg.Define("gcra", sluice::LimiterSpec::Gcra(1, sluice::kNanosPerSecond, 1));
  CHECK(g.ok());
  if (!g.ok()) return;
  const int64_t t0 = sluice::MonotonicNowNs();
  CHECK(t0 > 0);
  CHECK(g->valid() && g->name() == "gcra");
  CHECK(g->spec() == sluice::LimiterSpec::Gcra(1, sluice::kNanosPerSecond, 1));
  sluice::Decision d = g->TryAcquireAt(1, t0);
  CHECK(d.granted && d.denial == sluice::Denial::kNone && d.now_ns == t0);
  d = g->TryAcquireAt(1, t0);
  CHECK(!d.granted && d.denial == sluice::Denial::kBusy && d.retry_after_ns > 0);
  d = g->TryAcquireAt(2, t0);
  CHECK(!d.granted && d.denial == sluice::Denial::kNever && d.retry_after_ns == -1);
  sluice::LimiterLevel lv = g->LevelAt(t0);
  CHECK(lv.capacity == 1 && lv.next_free_ns > 0);
  CHECK(g->level().capacity == 1);

  // window: a blocking acquire granted at once, then timed out and cancelled.
  auto w = seg.Define("window", sluice::LimiterSpec::Window(2, 3600 * sluice::kNanosPerSecond));
  CHECK(w.ok());
  if (!w.ok()) return;
  int64_t granted_ns = 0;
  CHECK(w->Acquire(1, sluice::kNanosPerSecond, {}, &granted_ns).ok() && granted_ns >= t0);
  CHECK(w->TryAcquire().granted);
  CHECK(!w->TryAcquire(1).granted);
  CHECK(w->Acquire(1, sluice::kNanosPerMilli).code() == sluice::Code::kTimeout);
  CHECK(w->Acquire(1, -1, sluice::CancelCheck{&AlwaysCancel, nullptr}).code() ==
        sluice::Code::kCancelled);
  CHECK(w->Acquire(3, -1).code() == sluice::Code::kInvalidArgument);
  w->FlushStats();
  sluice::LimiterStats st = w->stats();
  CHECK(st.granted == 2 && st.denied >= 1 && st.asked >= 3);

  // lease: one holder; injected time and real time.
  auto l = seg.Define("lock", sluice::LimiterSpec::Lease(1, 10 * sluice::kNanosPerSecond, false));
  CHECK(l.ok());
  if (!l.ok()) return;
  const int64_t t1 = sluice::MonotonicNowNs();
  auto a = l->TryAcquireLeaseAt(t1);
  CHECK(a.ok() && a->token > 0 && a->expires_ns == t1 + 10 * sluice::kNanosPerSecond);
  if (!a.ok()) return;
  CHECK(!l->TryAcquireLeaseAt(t1).ok());
  sluice::Lease lease = *a;
  CHECK(l->RenewLeaseAt(&lease, t1 + sluice::kNanosPerSecond).ok() &&
        lease.expires_ns == t1 + 11 * sluice::kNanosPerSecond);
  CHECK(l->RenewLease(&lease).ok());
  CHECK(l->ReleaseLease(lease).ok());
  CHECK(l->ReleaseLease(lease).code() == sluice::Code::kNotHeld);
  auto b = l->AcquireLease(sluice::kNanosPerSecond);
  CHECK(b.ok() && b->token > lease.token);
  if (b.ok()) CHECK(l->ReleaseLease(*b).ok());
  CHECK(l->AcquireLease(0).ok());  // left held: the next grant waits for ttl
  CHECK(l->AcquireLease(sluice::kNanosPerMilli).status().code() == sluice::Code::kTimeout);
}

// segment.h
void SegmentApi(const std::string& ns) {
  CHECK(sluice::Segment::PathFor(ns) == "/dev/shm/sluice." + ns);
  setenv("SLUICE_NAMESPACE", "from-env", 1);
  CHECK(sluice::Segment::DefaultNamespace() == "from-env");
  unsetenv("SLUICE_NAMESPACE");
  CHECK(sluice::Segment::DefaultNamespace() == "default");

  CHECK(sluice::Segment::Open(ns).status().code() == sluice::Code::kNotFound);
  sluice::OpenOptions o;
  o.create = true;
  o.capacity = 16;
  auto seg = sluice::Segment::Open(ns, o);
  CHECK(seg.ok());
  if (!seg.ok()) {
    std::fprintf(stderr, "%s\n", seg.status().ToString().c_str());
    return;
  }
  CHECK(seg->ns() == ns && !seg->read_only());
  LimiterApi(*seg);

  // Live update, another algorithm, find, list, retire.
  auto w = seg->Define("window", sluice::LimiterSpec::Window(4, 3600 * sluice::kNanosPerSecond));
  CHECK(w.ok() && w->spec().limit == 4);
  CHECK(seg->Define("window", sluice::LimiterSpec::Gcra(1, sluice::kNanosPerSecond, 1))
            .status()
            .code() == sluice::Code::kExists);
  CHECK(seg->Find("window").ok());
  CHECK(seg->Find("absent").status().code() == sluice::Code::kNotFound);
  std::vector<sluice::Limiter> all = seg->List();
  CHECK(all.size() == 3 && all[0].name() == "gcra" && all[2].name() == "lock");
  CHECK(seg->Retire("gcra").ok());
  CHECK(seg->Find("gcra").status().code() == sluice::Code::kNotFound);
  CHECK(seg->List().size() == 2);
  CHECK(seg->Retire("gcra").code() == sluice::Code::kNotFound);

  sluice::SegmentInfo info = seg->Info();
  CHECK(info.ns == ns && info.path == sluice::Segment::PathFor(ns));
  CHECK(info.capacity == 16 && info.used_slots == 2 && info.layout_version > 0);  // live ones
  CHECK(info.arena_used <= info.arena_bytes && info.total_bytes > info.arena_bytes);
  CHECK(info.created_realtime_ns > 0 && info.mode == 0600);

  // A read-only mapping defines and decides nothing.
  sluice::OpenOptions ro_opts;
  ro_opts.read_only = true;
  auto ro = sluice::Segment::Open(ns, ro_opts);
  CHECK(ro.ok());
  if (ro.ok()) {
    CHECK(ro->read_only());
    CHECK(!ro->Define("new", sluice::LimiterSpec::Window(1, sluice::kNanosPerSecond)).ok());
    auto rw = ro->Find("window");
    CHECK(rw.ok() && rw->TryAcquire().denial == sluice::Denial::kReadOnly);
  }

  CHECK(sluice::Segment::Remove(ns).ok());
  CHECK(sluice::Segment::Remove(ns).code() == sluice::Code::kNotFound);
  CHECK(w.ok() && w->spec().limit == 4);  // handles keep their mapping
}

}  // namespace

int main(int argc, char** argv) {
  const std::string ns = argc > 1 ? argv[1] : "install-api";
  StatusApi();
  DurationApi();
  SpecApi();
  SegmentApi(ns);
  std::printf("C++ API: every installed header's functions called, %d failed checks\n", failures);
  return failures == 0 ? 0 : 1;
}
