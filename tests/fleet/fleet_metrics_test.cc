// The metrics port's library: the text exposition writer (names, escaping,
// values), the --metrics address parser, the allotter's view (waste,
// headroom, fallbacks) and its exposition with injected time, the
// forwarder's exposition of a snapshot, and the HTTP server's start and
// stop on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "allotter.h"
#include "allotter_status.h"
#include "exposition.h"
#include "forwarder_status.h"
#include "http_server.h"
#include "status_page.h"

namespace sluice::fleet::metrics {
namespace {

constexpr int64_t kS = 1'000'000'000;

TEST(TextWriter, WritesHelpTypeAndSamples) {
  TextWriter w;
  w.Family("sluice_x", MetricType::kCounter, "Things counted.");
  w.Sample({{"limiter", "api"}}, 3);
  w.Family("sluice_y", MetricType::kGauge, "A level.");
  w.Sample(0.5);
  EXPECT_EQ(w.text(),
            "# HELP sluice_x Things counted.\n# TYPE sluice_x counter\n"
            "sluice_x_total{limiter=\"api\"} 3\n"
            "# HELP sluice_y A level.\n# TYPE sluice_y gauge\nsluice_y 0.5\n");
}

TEST(TextWriter, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("a\"b\\c\nd"), "a\"b\\\\c\\nd");
  TextWriter w;
  w.Family("m", MetricType::kGauge, "line\nbreak \\ here");
  w.Sample({{"a", "x\"y"}, {"b", "\\"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP m line\\nbreak \\\\ here\n# TYPE m gauge\nm{a=\"x\\\"y\",b=\"\\\\\"} 1\n");
}

TEST(TextWriter, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(18446744073709551615.0), "1.8446744073709552e+19");
  EXPECT_EQ(FormatValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatValue(0.1)), 0.1);  // round-trips
}

TEST(TextWriter, ChecksNames) {
  EXPECT_TRUE(ValidMetricName("sluice_limiter_granted"));
  EXPECT_TRUE(ValidMetricName("a:b_1"));
  EXPECT_FALSE(ValidMetricName("1abc"));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("limiter"));
  EXPECT_FALSE(ValidLabelName("a:b"));
}

TEST(ListenAddress, ParsesHostAndPort) {
  StatusOr<ListenAddress> a = ParseListenAddress("127.0.0.1:9100");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9100);
  a = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  ASSERT_TRUE(ParseListenAddress("localhost:1").ok());
  for (const char* bad : {"", "127.0.0.1", ":9100", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:9x",
                          "::1:9100", "a b:1", "h:123456", "h:-1"}) {
    StatusOr<ListenAddress> b = ParseListenAddress(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
    EXPECT_NE(b.status().message().find("want HOST:PORT"), std::string::npos);
  }
}

// An allotter of one sliding resource (limit 100 per second, 10 reserved
// for fallbacks), driven with injected time from 0.
class AllotterViewTest : public ::testing::Test {
 protected:
  AllotterViewTest() : a_(Config(), 7, 0) {}

  static AllotterConfig Config() {
    ResourceConfig r;
    r.name = "api";
    r.spec = LimiterSpec::Sliding(100, kS);
    r.lease_ns = 4 * kS;
    r.refresh_ns = kS;
    r.reserved = 10;
    r.fallback_for_ns = 2 * kS;
    AllotterConfig c;
    c.listen = "127.0.0.1:0";
    c.resources.push_back(r);
    return c;
  }

  // `drained`: the host applied the last reply and can no longer be using
  // more than it gives (its superseded claims end now).
  void Refresh(const std::string& host, double demand, int64_t now, bool drained = false) {
    RefreshIn in;
    in.host_id = host;
    in.instance = 1;
    in.sequence = ++seq_[host];
    ResourceIn ri;
    ri.name = "api";
    ri.algorithm = Algorithm::kSliding;
    ri.demand = demand;
    if (drained) {
      ri.share_epoch = 7;
      ri.applied_sequence = in.sequence - 1;
    }
    in.resources.push_back(ri);
    ASSERT_TRUE(a_.Refresh(in, now).ok());
  }

  Allotter a_;
  std::map<std::string, uint64_t> seq_;
};

// Checks the sums of a resource's view against its hosts.
void ExpectConsistent(const ResourceView& r) {
  uint64_t handed = 0, committed = 0;
  double waste = 0;
  for (const HostView& h : r.hosts) {
    handed += h.in_force;
    committed += h.committed;
    EXPECT_GE(h.committed, h.in_force) << h.host;
    if (h.live) waste += std::max(0.0, static_cast<double>(h.in_force) - h.want);
  }
  EXPECT_EQ(r.handed_out, handed);
  EXPECT_EQ(r.committed, committed);
  EXPECT_LE(r.committed, r.limit);
  EXPECT_EQ(r.headroom, r.limit - r.committed);
  EXPECT_DOUBLE_EQ(r.waste, waste);
}

TEST_F(AllotterViewTest, ShowsSharesWantsWasteHeadroomAndFallbacks) {
  AllotterView v = a_.View(0);
  EXPECT_EQ(v.epoch, 7u);
  ASSERT_EQ(v.resources.size(), 1u);
  EXPECT_TRUE(v.resources[0].learning);
  EXPECT_EQ(v.resources[0].headroom, 100u);
  // Past learning (4 s lease + 1 s tail + 2 s fallback). Each reports
  // having applied the last reply, so shrinks retire at once.
  const int64_t t0 = 10 * kS;
  int64_t t = t0;
  for (int i = 0; i < 5; ++i, t += kS / 5) {
    Refresh("a", 30, t, i > 0);
    Refresh("b", 10, t, i > 0);
  }
  const int64_t b_last = t - kS / 5;
  v = a_.View(t);
  const ResourceView& r = v.resources[0];
  EXPECT_FALSE(v.learning);
  EXPECT_FALSE(r.learning);
  EXPECT_EQ(v.hosts, 2u);
  EXPECT_EQ(v.refreshes, 10u);
  EXPECT_EQ(r.limit, 100u);
  EXPECT_EQ(r.reserved, 10u);
  EXPECT_DOUBLE_EQ(r.wanted, 40);  // demand per second x the 1 s window
  ASSERT_EQ(r.hosts.size(), 2u);
  EXPECT_EQ(r.hosts[0].host, "a");
  EXPECT_GE(r.hosts[0].share, 30u);
  EXPECT_GT(r.hosts[1].share, 0u);
  EXPECT_GT(r.hosts[0].fallback, 0u);
  EXPECT_TRUE(r.hosts[0].live && r.hosts[1].live);
  EXPECT_GT(r.waste, 0);  // more than demanded is handed out
  ExpectConsistent(r);

  // b falls silent: live no more after a lease, on its fallback until that
  // lapses too; its claim counts until then (plus the tail).
  for (; t < b_last + 4 * kS + kS / 10; t += kS / 2) Refresh("a", 30, t, true);
  v = a_.View(t);
  ASSERT_EQ(v.resources[0].hosts.size(), 2u);
  const HostView* b = &v.resources[0].hosts[1];
  EXPECT_FALSE(b->live);
  EXPECT_TRUE(b->on_fallback);
  EXPECT_EQ(b->in_force, b->fallback);
  EXPECT_DOUBLE_EQ(v.resources[0].wanted, 30);
  ExpectConsistent(v.resources[0]);
  for (; t < b_last + 8 * kS; t += kS / 2) Refresh("a", 30, t, true);
  v = a_.View(t);
  ASSERT_EQ(v.resources[0].hosts.size(), 1u);  // b's claims lapsed: forgotten
  ExpectConsistent(v.resources[0]);

  const std::string text = AllotterMetricsText(v);
  EXPECT_NE(text.find("# TYPE sluice_allotter_refreshes counter\n"), std::string::npos);
  EXPECT_NE(text.find("\nsluice_allotter_epoch 7\n"), std::string::npos);
  EXPECT_NE(text.find("\nsluice_allotter_limit{resource=\"api\"} 100\n"), std::string::npos);
  EXPECT_NE(text.find("\nsluice_allotter_fallbacks{resource=\"api\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("\nsluice_allotter_headroom{resource=\"api\"} " +
                      std::to_string(v.resources[0].headroom) + "\n"),
            std::string::npos);
  EXPECT_NE(text.find("sluice_allotter_host_want{resource=\"api\",host=\"a\"} 30\n"),
            std::string::npos);
}

TEST_F(AllotterViewTest, StatusJsonCarriesHistoryPerHost) {
  std::deque<TimedView> history;
  for (int i = 0; i < 3; ++i) {
    const int64_t t = 10 * kS + i * kS;
    Refresh("a", 30, t);
    if (i > 0) Refresh("b\"q", 5, t);  // joins later; a name that needs escaping
    history.push_back({t, a_.View(t)});
  }
  const std::string json = AllotterStatusJson(history.back(), history);
  EXPECT_NE(json.find("\"epoch\":7,"), std::string::npos);
  EXPECT_NE(json.find("\"t\":[-2,-1,0]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"b\\\"q\":{\"in_force\":[null,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"want\":[30,30,30]"), std::string::npos) << json;
  EXPECT_EQ(JsonQuote("a\x01\\"), "\"a\\u0001\\\\\"");
}

TEST_F(AllotterViewTest, ServesMetricsStatusAndPageThenStops) {
  std::mutex mu;
  int64_t now = 10 * kS;
  Refresh("a", 30, now);
  AllotterStatus status(&a_, &mu, [&] { return now; });
  ASSERT_TRUE(status.Start({"127.0.0.1", 0}).ok());
  httplib::Client c("127.0.0.1", status.port());
  httplib::Result m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->get_header_value("Content-Type"), kExpositionContentType);
  EXPECT_NE(m->body.find("sluice_allotter_host_share{resource=\"api\",host=\"a\"}"),
            std::string::npos);
  httplib::Result j = c.Get("/status.json");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->get_header_value("Content-Type"), "application/json");
  EXPECT_NE(j->body.find("\"history\":{\"t\":[0]"), std::string::npos) << j->body;
  httplib::Result p = c.Get("/");
  ASSERT_TRUE(p);
  EXPECT_NE(p->body.find("fetch(\"status.json\""), std::string::npos);
  for (const char* ref : {"src=", "href=", "url(", "@import"}) {  // no external assets
    EXPECT_EQ(p->body.find(ref), std::string::npos) << ref;
  }
  const auto t0 = std::chrono::steady_clock::now();
  status.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(ForwarderMetrics, EveryLimiterAndTheShareOfGlobalOnes) {
  Snapshot snap;
  snap.taken_ns = 100 * kS;
  LimiterRow local;
  local.name = "local";
  local.stats.granted = 5;
  local.stats.denied = 2;
  local.stats.asked = 7;
  local.stats.wait_ns = 1'500'000'000;
  local.level.used = 5;
  local.level.capacity = 5;
  snap.rows.push_back(local);
  LimiterRow global = local;
  global.name = "api";
  global.global = true;
  global.share.stage = admin::ShareStage::kFallback;
  global.share.amount = 4;
  global.share.epoch = 9;
  global.share.ends_ns = 101 * kS;
  snap.rows.push_back(global);
  RefreshState st;
  st.ns = "ns1";
  st.host_id = "h1";
  st.limiters["api"].granted_at_ns = 97 * kS;
  st.limiters["api"].errors = 3;
  const std::string t = ForwarderMetricsText(snap, st);
  for (const char* want :
       {"sluice_limiter_granted_total{namespace=\"ns1\",limiter=\"local\"} 5\n",
        "sluice_limiter_denied_total{namespace=\"ns1\",limiter=\"api\"} 2\n",
        "sluice_limiter_wait_seconds_total{namespace=\"ns1\",limiter=\"local\"} 1.5\n",
        "sluice_limiter_bound{namespace=\"ns1\",limiter=\"local\"} 5\n",
        "sluice_limiter_share{namespace=\"ns1\",limiter=\"api\"} 4\n",
        "sluice_limiter_fallback{namespace=\"ns1\",limiter=\"api\"} 1\n",
        "sluice_limiter_share_stage{namespace=\"ns1\",limiter=\"api\",stage=\"fallback\"} 1\n",
        "sluice_limiter_stage_remaining_seconds{namespace=\"ns1\",limiter=\"api\"} 1\n",
        "sluice_limiter_lease_age_seconds{namespace=\"ns1\",limiter=\"api\"} 3\n",
        "sluice_limiter_refresh_errors_total{namespace=\"ns1\",limiter=\"api\"} 3\n",
        "sluice_forwarder_info{namespace=\"ns1\",host=\"h1\"} 1\n"}) {
    EXPECT_NE(t.find(want), std::string::npos) << want;
  }
  // Share figures only for global limiters.
  EXPECT_EQ(t.find("sluice_limiter_share{namespace=\"ns1\",limiter=\"local\"}"), std::string::npos);
}

TEST(HttpServer, ServesAndStopsWithAConnectionOpen) {
  HttpServer s;
  s.Get("/x", [] { return Response{200, "text/plain", "hello"}; });
  ASSERT_TRUE(s.Start({"127.0.0.1", 0}).ok());
  ASSERT_GT(s.port(), 0);
  httplib::Client c("127.0.0.1", s.port());
  c.set_keep_alive(true);
  httplib::Result r = c.Get("/x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain");
  EXPECT_EQ(c.Get("/nope")->status, 404);

  // The port is taken: a second server says so.
  HttpServer other;
  const Status taken = other.Start({"127.0.0.1", s.port()});
  EXPECT_EQ(taken.code(), Code::kIo);

  const auto t0 = std::chrono::steady_clock::now();
  s.Stop();  // the client's keep-alive connection is still open
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  s.Stop();  // idempotent
  EXPECT_FALSE(c.Get("/x"));
}

TEST(HttpServer, StopsRightAfterStart) {
  for (int i = 0; i < 20; ++i) {
    HttpServer s;
    ASSERT_TRUE(s.Start({"127.0.0.1", 0}).ok());
  }
}

}  // namespace
}  // namespace sluice::fleet::metrics
