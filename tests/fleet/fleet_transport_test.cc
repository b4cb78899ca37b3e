// The fleet's transport and log pieces without a network: the token file's
// permission check and reading, the constant-time compare, TLS credentials
// from PEM files (errors name the file), and the log's JSON escaping.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "log.h"
#include "tls.h"
#include "token.h"

namespace sluice::fleet {
namespace {

class Transport : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-fleet-transport-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(Transport, TokenFileIsItsFirstLineAndOwnerOnly) {
  StatusOr<std::string> t = ReadTokenFile(Write("t", "s3cret\nignored\n"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, "s3cret");
  EXPECT_EQ(*ReadTokenFile(Write("crlf", "abc\r\n")), "abc");
  EXPECT_EQ(*ReadTokenFile(Write("ro", "abc", 0400)), "abc");
  for (mode_t m : {0640, 0604, 0660, 0644, 0602}) {
    const std::string p = Write("open" + std::to_string(m), "abc", m);
    StatusOr<std::string> r = ReadTokenFile(p);
    EXPECT_EQ(r.status().code(), Code::kPermission) << m;
    EXPECT_NE(r.status().message().find(p + ": token file is accessible by group or others"),
              std::string::npos)
        << r.status().message();
  }
  EXPECT_EQ(ReadTokenFile(Write("empty", "")).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadTokenFile(Write("nl", "\nabc")).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadTokenFile(Write("ctl", "a\tb")).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadTokenFile(Write("long", std::string(5000, 'x'))).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ReadTokenFile(dir_ + "/none").status().code(), Code::kNotFound);
  EXPECT_EQ(ReadTokenFile(dir_).status().code(), Code::kInvalidArgument);  // a directory
}

TEST(SameToken, ComparesWholeStrings) {
  EXPECT_TRUE(SameToken("abc", "abc"));
  EXPECT_FALSE(SameToken("abc", "abd"));
  EXPECT_FALSE(SameToken("abc", "ab"));
  EXPECT_FALSE(SameToken("abc", "abcd"));
  EXPECT_FALSE(SameToken("abc", ""));
  EXPECT_FALSE(SameToken("", "x"));
  EXPECT_TRUE(SameToken("", ""));
  EXPECT_FALSE(SameToken(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_F(Transport, TlsCredentialsNeedWholeSetsOfReadablePem) {
  // Nothing set: plaintext on both ends.
  EXPECT_TRUE(MakeServerCredentials({}).ok());
  EXPECT_TRUE(MakeChannelCredentials({}).ok());
  const std::string pem =
      Write("x.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  const std::string junk = Write("junk.pem", "not pem");
  StatusOr<std::shared_ptr<grpc::ServerCredentials>> s = MakeServerCredentials({pem, "", ""});
  EXPECT_NE(s.status().message().find("tls_cert and tls_key must be set together"),
            std::string::npos);
  s = MakeServerCredentials({"", "", pem});
  EXPECT_NE(s.status().message().find("tls_ca needs tls_cert and tls_key"), std::string::npos);
  s = MakeServerCredentials({pem, junk, ""});
  EXPECT_NE(s.status().message().find(junk + ": tls_key is not a PEM file"), std::string::npos)
      << s.status().message();
  s = MakeServerCredentials({pem, dir_ + "/none", ""});
  EXPECT_NE(s.status().message().find(dir_ + "/none: cannot read tls_key"), std::string::npos);
  StatusOr<std::shared_ptr<grpc::ChannelCredentials>> c = MakeChannelCredentials({pem, pem, ""});
  EXPECT_NE(c.status().message().find("need tls_ca"), std::string::npos);
  c = MakeChannelCredentials({"", "", junk});
  EXPECT_NE(c.status().message().find(junk + ": tls_ca is not a PEM file"), std::string::npos);
}

TEST(Log, JsonEscapeAndLevels) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
  EXPECT_EQ(SetupLog("t", "loud", false).code(), Code::kInvalidArgument);
  EXPECT_TRUE(SetupLog("t", "warn", true).ok());
  testing::internal::CaptureStderr();
  Log(LogLevel::kInfo, "hidden");
  Log(LogLevel::kWarn, "shown \"quoted\"\nnext");
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("hidden"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("daemon":"t","level":"warning","msg":"shown \"quoted\"\nnext"})"),
            std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line per event";
}

}  // namespace
}  // namespace sluice::fleet
