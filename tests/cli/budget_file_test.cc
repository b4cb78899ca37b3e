#include "sluice/admin/budget_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "sluice/duration.h"

namespace sluice {
namespace {

constexpr char kExample[] = R"(namespace = "web"
mode = "0660"

[limiters.search]
algorithm = "sliding"
limit = 5
window = "800ms"

[limiters.partner-api]
algorithm = "gcra"
rate = 100
period = "1s"
burst = 10

[limiters.db-migration]
algorithm = "lease"
holders = 1
ttl = "250ms"
reclaim = true

[limiters.fleet-api]
algorithm = "sliding"
global = true
window = "1s"

[allotter]
address = "127.0.0.1:7300"
token_file = "/etc/sluice/token"
)";

TEST(BudgetFile, ParsesTheDesignExample) {
  StatusOr<Budget> b = ParseBudget(kExample, "budget.toml");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b->ns, "web");
  EXPECT_EQ(b->mode, 0660u);
  ASSERT_EQ(b->limiters.size(), 4u);
  // File order, not key order.
  EXPECT_EQ(b->limiters[0].name, "search");
  EXPECT_EQ(b->limiters[1].name, "partner-api");
  EXPECT_EQ(b->limiters[2].name, "db-migration");
  EXPECT_EQ(b->limiters[3].name, "fleet-api");
  EXPECT_EQ(b->limiters[0].spec, LimiterSpec::Sliding(5, 800 * kNanosPerMilli));
  EXPECT_EQ(b->limiters[1].spec, LimiterSpec::Gcra(100, kNanosPerSecond, 10));
  EXPECT_EQ(b->limiters[2].spec, LimiterSpec::Lease(1, 250 * kNanosPerMilli, true));
  EXPECT_TRUE(b->limiters[3].spec.global);
  EXPECT_EQ(b->limiters[1].pos.line, 9u);
  EXPECT_EQ(b->limiters[1].algorithm_pos.line, 10u);
  EXPECT_EQ(b->limiters[1].algorithm_pos.column, 13u);
  ASSERT_TRUE(b->allotter.has_value());
  EXPECT_EQ(b->allotter->address, "127.0.0.1:7300");
  EXPECT_EQ(b->allotter->token_file, "/etc/sluice/token");
  EXPECT_EQ(b->ErrorAt({3, 4}, "x"), "budget.toml:3:4: x");
}

TEST(BudgetFile, AllotterAddressMayListSeveral) {
  StatusOr<Budget> b =
      ParseBudget("[allotter]\naddress = \"10.0.0.1:7300,allot2:7300\"\n", "budget.toml");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->allotter->address, "10.0.0.1:7300,allot2:7300");
  EXPECT_EQ(b->allotter->addresses, (std::vector<std::string>{"10.0.0.1:7300", "allot2:7300"}));
  b = ParseBudget("[allotter]\naddress = \"127.0.0.1:7300\"\n", "budget.toml");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->allotter->addresses, std::vector<std::string>{"127.0.0.1:7300"});
}

TEST(BudgetFile, WorldWritableModeNeedsTheOptIn) {
  for (const char* text : {"mode = \"0666\"\nallow_world_writable = true\n",
                           "allow_world_writable = true\nmode = 0o777\n"}) {
    StatusOr<Budget> b = ParseBudget(text, "w.toml");
    ASSERT_TRUE(b.ok()) << text << ": " << b.status().ToString();
    EXPECT_TRUE(b->allow_world_writable);
    EXPECT_NE(b->mode & 0002, 0u);
  }
  // Group modes need nothing.
  StatusOr<Budget> g = ParseBudget("mode = \"0660\"\n", "g.toml");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_FALSE(g->allow_world_writable);
}

TEST(BudgetFile, DefaultsAndEmptyFile) {
  StatusOr<Budget> b = ParseBudget("", "empty.toml");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->ns.has_value());
  EXPECT_EQ(b->mode, 0600u);
  EXPECT_TRUE(b->limiters.empty());
  EXPECT_FALSE(b->allotter.has_value());
  StatusOr<Budget> m = ParseBudget("mode = 0o640\n", "m.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->mode, 0640u);
}

struct Malformed {
  const char* what;
  const char* text;
  uint32_t line;
  uint32_t column;
  const char* message;  // a substring of the message
};

const Malformed kMalformed[] = {
    {"typo in a key",
     "namespace = \"web\"\n[limiters.a]\nalgorithm = \"gcra\"\nrate = 10\nburts = 5\n", 5, 1,
     "unknown key 'burts'"},
    {"unterminated string", "[limiters.a]\nalgorithm = \"gcra\"\nrate = 10\nperiod = \"1s\n", 4, 13,
     "Error while parsing string"},
    {"unknown top-level key", "mode = \"0600\"\nnamespaces = \"web\"\n", 2, 1,
     "unknown key 'namespaces'"},
    {"zero rate", "[limiters.a]\nalgorithm = \"gcra\"\nrate = 0\n", 3, 8, "rate must be between 1"},
    {"negative rate", "[limiters.a]\nalgorithm = \"gcra\"\nrate = -5\n", 3, 8,
     "must not be negative"},
    {"duration without unit",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = \"800\"\n", 4, 10, "has no unit"},
    {"duration with space",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = \"800 ms\"\n", 4, 10,
     "unknown unit"},
    {"missing required key", "\n[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\n", 2, 1,
     "missing key 'window'"},
    {"missing algorithm", "[limiters.a]\nrate = 5\n", 1, 1, "missing key 'algorithm'"},
    {"unknown algorithm", "[limiters.a]\nalgorithm = \"token-bucket\"\n", 2, 13,
     "algorithm must be one of"},
    {"bad limiter name", "[limiters.\"bad name\"]\nalgorithm = \"gcra\"\nrate = 1\n", 1, 11,
     "may only hold letters"},
    {"non-octal mode", "mode = \"0999\"\n", 1, 8, "octal permission bits"},
    {"mode without owner rw", "mode = \"0400\"\n", 1, 8, "owner read and write"},
    // Anyone on the host could write (and so jam) a world-writable segment.
    {"world-writable mode", "namespace = \"web\"\nmode = \"0666\"\n", 2, 8,
     "mode 0666 is world-writable"},
    {"world-writable octal mode", "mode = 0o777\n", 1, 8, "add allow_world_writable = true"},
    {"o+w only", "mode = \"0602\"\n[limiters.a]\nalgorithm = \"gcra\"\nrate = 1\n", 1, 8,
     "world-writable"},
    {"world-writable opt-in switched off", "mode = \"0666\"\nallow_world_writable = false\n", 1, 8,
     "world-writable"},
    {"opt-in not a boolean", "allow_world_writable = \"yes\"\n", 1, 24,
     "allow_world_writable must be true or false"},
    {"key of another algorithm",
     "[limiters.a]\nalgorithm = \"lease\"\nholders = 1\nttl = \"250ms\"\nrate = 4\n", 5, 1,
     "does not apply to algorithm \"lease\""},
    {"allotter address without port", "[allotter]\naddress = \"localhost\"\n", 2, 11, "host:port"},
    {"allotter list with a bad one", "[allotter]\naddress = \"a:1,b\"\n", 2, 11, "comma list"},
    {"allotter list with an empty one", "[allotter]\naddress = \"a:1,,b:2\"\n", 2, 11, "host:port"},
    {"typo in allotter", "[allotter]\nadress = \"localhost:1\"\n", 2, 1,
     "unknown key 'adress' in [allotter]"},
    {"limiters not a table", "limiters = 5\n", 1, 12, "limiters must be a table"},
    {"limiter not a table", "[limiters]\na = 5\n", 2, 5, "limiters.a must be a table"},
    {"integer overflow", "[limiters.a]\nalgorithm = \"gcra\"\nrate = 99999999999999999999\n", 3, 28,
     "not representable in 64 bits"},
    {"absurd window limit",
     "[limiters.a]\nalgorithm = \"window\"\nlimit = 100000000\nwindow = \"1s\"\n", 3, 9,
     "limit must be between 1 and 16777215"},
    {"duplicate limiter",
     "[limiters.a]\nalgorithm = \"gcra\"\nrate = 10\n[limiters.a]\nalgorithm = \"gcra\"\n", 4, 1,
     "cannot redefine existing table"},
    {"overflowing duration",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = \"99999999999h\"\n", 4, 10,
     "too large"},
    {"duration below 1us", "[limiters.a]\nalgorithm = \"lease\"\nholders = 1\nttl = \"500ns\"\n", 4,
     7, "between 1us and 366 days"},
    {"rate as a string", "[limiters.a]\nalgorithm = \"gcra\"\nrate = \"10\"\n", 3, 8,
     "rate must be an integer"},
    {"rate as a float", "[limiters.a]\nalgorithm = \"gcra\"\nrate = 1.5\n", 3, 8,
     "rate must be an integer"},
    {"bool as a string",
     "[limiters.a]\nalgorithm = \"lease\"\nholders = 2\nttl = \"1s\"\nreclaim = \"yes\"\n", 5, 11,
     "reclaim must be true or false"},
    {"third limiter invalid",
     "[limiters.ok1]\nalgorithm = \"gcra\"\nrate = 10\n[limiters.ok2]\nalgorithm = "
     "\"sliding\"\nlimit = 3\n"
     "window = \"1s\"\n[limiters.bad3]\nalgorithm = \"lease\"\nholders = 0\nttl = \"1s\"\n",
     10, 11, "holders must be between 1"},
    {"bad namespace", "namespace = \"-web\"\n", 1, 13, "must not start with"},
    {"duration as a number", "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = 800\n", 4,
     10, "window must be a duration string"},
    {"namespace not a string", "namespace = 7\n", 1, 13, "namespace must be a string"},
    {"absurd holders", "[limiters.a]\nalgorithm = \"lease\"\nholders = 1000000\nttl = \"1s\"\n", 3,
     11, "holders must be between 1 and 65536"},
    // Issue 8: durations that wrapped past 2^64 ("800ms", "1s") and
    // integers that overflow or are negative, in every key.
    {"duration wrapping to 800ms",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = \"18446744074509551616ns\"\n", 4,
     10, "too large"},
    {"duration wrapping to 1s",
     "[limiters.a]\nalgorithm = \"lease\"\nholders = 1\nttl = \"18446744073709551617s\"\n", 4, 7,
     "too large"},
    {"duration ten times 2^64",
     "[limiters.a]\nalgorithm = \"gcra\"\nrate = 1\nperiod = \"184467440737095516161s\"\n", 4, 10,
     "too large"},
    {"duration just past int64",
     "[limiters.a]\nalgorithm = \"window\"\nlimit = 1\nwindow = \"9223372036854775808ns\"\n", 4, 10,
     "too large"},
    {"negative limit", "[limiters.a]\nalgorithm = \"sliding\"\nlimit = -1\nwindow = \"1s\"\n", 3, 9,
     "must not be negative"},
    {"negative holders", "[limiters.a]\nalgorithm = \"lease\"\nholders = -3\nttl = \"1s\"\n", 3, 11,
     "must not be negative"},
    {"negative burst",
     "[limiters.a]\nalgorithm = \"gcra\"\nrate = 1\nburst = -9223372036854775808\n", 4, 9,
     "must not be negative"},
    {"overflowing limit",
     "[limiters.a]\nalgorithm = \"window\"\nlimit = 18446744073709551616\nwindow = \"1s\"\n", 3, 29,
     "not representable in 64 bits"},
    {"overflowing holders",
     "[limiters.a]\nalgorithm = \"lease\"\nholders = 9223372036854775808\nttl = \"1s\"\n", 3, 30,
     "not representable in 64 bits"},
    {"overflowing burst",
     "[limiters.a]\nalgorithm = \"gcra\"\nrate = 1\nburst = -9223372036854775809\n", 4, 29,
     "not representable in 64 bits"},
    // Issue 8: NUL (or another control byte) in any string key or name.
    {"NUL in allotter address", "[allotter]\naddress = \"127.0.0.1\\u0000:7300\"\n", 2, 11,
     "address must not contain NUL or other control characters"},
    {"NUL in allotter token_file",
     "[allotter]\naddress = \"h:1\"\ntoken_file = \"/etc/tok\\u0000en\"\n", 3, 14,
     "token_file must not contain NUL"},
    {"NUL in a limiter name", "[limiters.\"a\\u0000b\"]\nalgorithm = \"gcra\"\nrate = 1\n", 1, 11,
     "limiter name 'a\\x00b' must not contain NUL"},
    {"NUL in the namespace", "namespace = \"w\\u0000eb\"\n", 1, 13,
     "namespace name 'w\\x00eb' must not contain NUL"},
    {"NUL in a duration",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 5\nwindow = \"8\\u0000ms\"\n", 4, 10,
     "'8\\x00ms'"},
    {"sliding limit too large",
     "[limiters.a]\nalgorithm = \"sliding\"\nlimit = 2000000\nwindow = \"1s\"\n", 3, 9,
     "limit must be between"},
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.what; }

class MalformedBudget : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedBudget, ReportsFileLineAndColumn) {
  const Malformed& m = GetParam();
  StatusOr<Budget> b = ParseBudget(m.text, "bad.toml");
  ASSERT_FALSE(b.ok()) << m.what;
  EXPECT_EQ(b.status().code(), Code::kInvalidArgument);
  const std::string prefix =
      "bad.toml:" + std::to_string(m.line) + ":" + std::to_string(m.column) + ": ";
  EXPECT_EQ(b.status().message().rfind(prefix, 0), 0u) << m.what << ": " << b.status().message();
  EXPECT_NE(b.status().message().find(m.message), std::string::npos)
      << m.what << ": " << b.status().message();
  EXPECT_EQ(b.status().message().find('\n'), std::string::npos) << "one line";
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedBudget, ::testing::ValuesIn(kMalformed),
                         [](const ::testing::TestParamInfo<Malformed>& info) {
                           std::string n = info.param.what;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// The library tells at least twenty kinds of malformed input apart: the
// errors it returns for the table (position and message) are counted, not
// the table's rows.
TEST(BudgetFile, TellsAtLeastTwentyMalformedInputsApart) {
  std::set<std::string> distinct;
  for (const Malformed& m : kMalformed) {
    StatusOr<Budget> b = ParseBudget(m.text, "bad.toml");
    ASSERT_FALSE(b.ok()) << m.what;
    distinct.insert(b.status().message());
  }
  EXPECT_GE(distinct.size(), 20u);
}

TEST(BudgetFile, TheShippedExampleIsValid) {
  StatusOr<Budget> b = LoadBudgetFile(SLUICE_SOURCE_DIR "/examples/budget.toml");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->limiters.size(), 5u);
  EXPECT_TRUE(b->allotter.has_value());
}

TEST(BudgetFile, LoadReportsUnreadableFiles) {
  StatusOr<Budget> b = LoadBudgetFile("/nonexistent/sluice/budget.toml");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kNotFound);
  EXPECT_NE(b.status().message().find("/nonexistent/sluice/budget.toml: cannot read"),
            std::string::npos);
}

// Issue 8: /dev/zero (file or stdin) grew until std::bad_alloc.
TEST(BudgetFile, InputIsCappedAtOneMebibyte) {
  StatusOr<Budget> z = LoadBudgetFile("/dev/zero");
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(z.status().message(), "/dev/zero: larger than 1 MiB, the most a budget file may hold");
  std::istringstream big(std::string(kMaxBudgetBytes + 1, '#'));
  EXPECT_EQ(ReadBudget(big, "<stdin>").status().message(),
            "<stdin>: larger than 1 MiB, the most a budget file may hold");
  // Exactly at the cap is read (and parsed: a comment is a valid file).
  std::istringstream at(std::string(kMaxBudgetBytes, '#'));
  StatusOr<Budget> b = ReadBudget(at, "<stdin>");
  EXPECT_TRUE(b.ok()) << b.status().ToString();
}

TEST(BudgetFile, LoadNamesTheFileInErrors) {
  const std::string path =
      ::testing::TempDir() + "/sluice_budget_" + std::to_string(getpid()) + ".toml";
  {
    std::ofstream out(path);
    out << "[limiters.x]\nalgorithm = \"gcra\"\nrate = 0\n";
  }
  StatusOr<Budget> b = LoadBudgetFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message().rfind(path + ":3:8: ", 0), 0u) << b.status().message();
}

}  // namespace
}  // namespace sluice
