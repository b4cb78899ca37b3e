#include <gtest/gtest.h>

#include <cstring>

#include "inspect_format.h"
#include "layout.h"
#include "mapping.h"
#include "slot_table.h"
#include "sluice/duration.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

constexpr int64_t kMs = kNanosPerMilli;

LimiterRow SlidingRow() {
  LimiterRow r;
  r.name = "search";
  r.spec = LimiterSpec::Sliding(5, 800 * kMs);
  r.stats.granted = 12;
  r.stats.denied = 3;
  r.stats.asked = 15;
  r.stats.waiting = 2;
  r.stats.waits = 4;
  r.stats.wait_ns = 1500;
  r.stats.demand = 2.5;
  r.level.used = 5;
  r.level.capacity = 5;
  r.level.next_free_ns = 100 * kMs;
  return r;
}

TEST(Inspect, RowJsonHasTheDocumentedFields) {
  const std::string j = RowToJson(SlidingRow(), 0);
  EXPECT_EQ(
      j,
      "{\"name\":\"search\",\"corrupt\":null,\"algorithm\":\"sliding\",\"global\":false,"
      "\"spec\":\"sliding limit=5 window=800ms\",\"params\":{\"limit\":5,\"window_ns\":800000000},"
      "\"steady_rate_per_s\":6.25,\"level\":{\"used\":5,\"capacity\":5,\"next_free_ns\":100000000},"
      "\"granted\":12,\"denied\":3,\"asked\":15,\"waiting\":2,\"waits\":4,\"wait_ns\":1500,"
      "\"demand_per_s\":2.5,\"share\":null}");
}

TEST(Inspect, FleetRowJsonAndShow) {
  LimiterRow r = SlidingRow();
  r.spec.global = true;
  r.global = true;
  r.share.stage = admin::ShareStage::kShare;
  r.share.amount = 40;
  r.share.cap = 100;
  r.share.ends_ns = 3 * kNanosPerSecond;
  r.share.epoch = 7;
  r.share.drained_ns = 2 * kNanosPerSecond;
  const std::string j = RowToJson(r, kNanosPerSecond);
  EXPECT_NE(j.find("\"global\":true"), std::string::npos);
  EXPECT_NE(j.find("\"share\":{\"stage\":\"share\",\"amount\":40,\"burst\":0,\"cap\":100,"
                   "\"ends_in_ns\":2000000000,\"epoch\":7,\"drained_in_ns\":1000000000}"),
            std::string::npos)
      << j;
  const std::string s = FormatShow(r, kNanosPerSecond);
  EXPECT_NE(s.find("share:        40 (share, ends in 2s, epoch 7)"), std::string::npos) << s;
  EXPECT_NE(s.find("cap:          100"), std::string::npos) << s;
  r.share = ShareRow{};
  EXPECT_NE(FormatShow(r, 0).find("share:        0 (none: no share yet, denying, epoch 0)"),
            std::string::npos)
      << FormatShow(r, 0);
}

TEST(Inspect, ShowText) {
  const std::string s = FormatShow(SlidingRow(), 0);
  EXPECT_NE(s.find("name:         search\n"), std::string::npos) << s;
  EXPECT_NE(s.find("params:       sliding limit=5 window=800ms\n"), std::string::npos) << s;
  EXPECT_NE(s.find("level:        5/5 grants in the last window (next free in 100ms)\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("waiting:      2\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("share"), std::string::npos) << "only for fleet limiters";
}

TEST(Inspect, JsonQuoteEscapes) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(Inspect, TableAlignsColumns) {
  Snapshot snap;
  snap.info.ns = "web";
  snap.rows.push_back(SlidingRow());
  LimiterRow g;
  g.name = "partner-api";
  g.spec = LimiterSpec::Gcra(100, kNanosPerSecond, 10);
  g.stats.granted = 123456;
  g.level.capacity = 10;
  snap.rows.push_back(g);
  const std::string t = FormatTable(snap);
  EXPECT_EQ(t.substr(0, t.find('\n')),
            "NAME         ALGO    PARAMS                       LEVEL       GRANTED  DENIED   WAIT "
            "DEMAND/s");
  EXPECT_NE(t.find("\nsearch       sliding limit=5 window=800ms         5/5         12       3     "
                   "   2    2.5\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\npartner-api  gcra    rate=100 period=1s burst=10  0/10        123.5k"),
            std::string::npos)
      << t;
  snap.rows.clear();
  EXPECT_NE(FormatTable(snap).find("(no limiters in namespace 'web')"), std::string::npos);
}

TEST(Inspect, SnapshotOfALiveSegmentIsReadOnly) {
  testing::ScopedNamespace ns("insp");
  Segment seg = ns.Open();
  Limiter s = *seg.Define("search", LimiterSpec::Sliding(5, 10000 * kMs));
  Limiter f = *seg.Define("fleet", [] {
    LimiterSpec x = LimiterSpec::Sliding(0, kNanosPerSecond);
    x.global = true;
    return x;
  }());
  for (int i = 0; i < 7; ++i) s.TryAcquire(1);
  s.FlushStats();
  StatusOr<Inspector> in = Inspector::Open(ns.ns());
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_TRUE(in->segment().read_only());
  // A share, published the way the forwarder does.
  {
    admin::Share share;
    share.amount = 40;
    share.expires_ns = MonotonicNowNs() + 60 * kNanosPerSecond;
    share.epoch = 3;
    ASSERT_TRUE(admin::PublishShare(seg, "fleet", share).ok());
  }
  const Snapshot snap = in->Take();
  ASSERT_EQ(snap.rows.size(), 2u);
  const LimiterRow* row = snap.Find("search");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->stats.granted, 5u);
  EXPECT_EQ(row->stats.denied, 2u);
  EXPECT_EQ(row->level.used, 5.0);
  const LimiterRow* fleet = snap.Find("fleet");
  ASSERT_NE(fleet, nullptr);
  EXPECT_TRUE(fleet->global);
  EXPECT_EQ(fleet->share.amount, 40u);
  EXPECT_EQ(fleet->share.stage, admin::ShareStage::kShare);
  EXPECT_EQ(fleet->share.epoch, 3u);
  EXPECT_EQ(fleet->spec.limit, 40u);
  EXPECT_EQ(snap.info.ns, ns.ns());
  const std::string j = SnapshotToJson(snap);
  EXPECT_EQ(j.rfind("{\"namespace\":\"" + ns.ns() + "\",\"path\":\"/dev/shm/sluice." + ns.ns() +
                        "\",\"layout_version\":" + std::to_string(kLayoutVersion) +
                        ",\"mode\":\"0600\",\"capacity\":256,\"used_slots\":2,",
                    0),
            0u)
      << j;
  // Read-only: the inspector's handles cannot take permits.
  Limiter ro = *in->segment().Find("search");
  EXPECT_FALSE(ro.TryAcquire(1).granted);
  EXPECT_EQ(in->Take().Find("search")->stats.asked, 7u);
}

// Issue 8: `ls` dropped limiters whose slot fails validation, printed
// control bytes raw and passed invalid UTF-8 into --json.
TEST(Inspect, CorruptLimitersAreListedAndNamesEscaped) {
  testing::ScopedNamespace ns("inspcorrupt");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("good", LimiterSpec::Sliding(5, kNanosPerSecond)).ok());
  ASSERT_TRUE(seg.Define("bad", LimiterSpec::Sliding(5, kNanosPerSecond)).ok());
  ASSERT_TRUE(seg.Define("odd", LimiterSpec::Gcra(5, kNanosPerSecond, 1)).ok());
  {
    StatusOr<std::shared_ptr<Mapping>> m = Mapping::Open(ns.ns(), {});
    ASSERT_TRUE(m.ok());
    SlotLayout* bad = (*m)->slot(*slots::Find(**m, "bad"));
    bad->params_off.store(8);  // points into the header: fails validation
    // A name no definer could write: an escape sequence and invalid UTF-8.
    SlotLayout* odd = (*m)->slot(*slots::Find(**m, "odd"));
    std::memcpy(odd->name, "o\x1b[2J\xff\xc3(", 9);
  }
  StatusOr<Inspector> in = Inspector::Open(ns.ns());
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  const Snapshot snap = in->Take();
  ASSERT_EQ(snap.rows.size(), 3u);
  const LimiterRow* bad = snap.Find("bad");
  ASSERT_NE(bad, nullptr) << "a corrupt limiter must be listed";
  EXPECT_FALSE(bad->corrupt.empty());
  EXPECT_TRUE(snap.Find("good")->corrupt.empty());

  const std::string table = FormatTable(snap);
  EXPECT_NE(table.find("\nbad "), std::string::npos) << table;
  EXPECT_NE(table.find("corrupt: "), std::string::npos) << table;
  EXPECT_NE(table.find("o\\x1b[2J\\xff\\xc3("), std::string::npos) << table;
  for (char c : table) {
    const auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(c == '\n' || (u >= 0x20 && u < 0x7f)) << "raw byte " << int(u) << " in\n" << table;
  }
  EXPECT_NE(FormatShow(*bad, snap.taken_ns).find("corrupt:"), std::string::npos);

  const std::string j = SnapshotToJson(snap);
  EXPECT_NE(j.find("{\"name\":\"bad\",\"corrupt\":\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"name\":\"o\\u001b[2J\\ufffd\\ufffd(\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"name\":\"good\",\"corrupt\":null,"), std::string::npos) << j;
  for (char c : j) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << j;
}

TEST(Inspect, JsonQuoteKeepsValidUtf8AndReplacesTheRest) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonQuote("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(JsonQuote("\xc3"), "\"\\ufffd\"");                                   // truncated
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"\\ufffd\\ufffd\"");                        // overlong
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");             // surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
  EXPECT_EQ(JsonQuote(std::string_view("a\0b\x7f", 4)), "\"a\\u0000b\\u007f\"");
}

TEST(Inspect, MissingNamespace) {
  testing::ScopedNamespace ns("none");
  EXPECT_EQ(Inspector::Open(ns.ns()).status().code(), Code::kNotFound);
}

TEST(Inspect, SteadyRate) {
  EXPECT_DOUBLE_EQ(SteadyRatePerSecond(LimiterSpec::Gcra(100, kNanosPerSecond, 10)), 100.0);
  EXPECT_DOUBLE_EQ(SteadyRatePerSecond(LimiterSpec::Sliding(5, 800 * kMs)), 6.25);
  EXPECT_DOUBLE_EQ(SteadyRatePerSecond(LimiterSpec::Lease(1, 250 * kMs, false)), 4.0);
}

}  // namespace
}  // namespace sluice
