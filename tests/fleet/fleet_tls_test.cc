// The fleet over TLS on 127.0.0.1: the test makes a CA and certificates
// with `openssl` (skipped, saying so, when it is missing), runs an allotter
// that requires client certificates and a forwarder that verifies the
// allotter's, and checks that plaintext and certificate-less clients are
// refused while the forwarder refreshes.
#include <grpcpp/grpcpp.h>

#include <cstdlib>

#include "ops_fixture.h"
#include "sluice_fleet.grpc.pb.h"

namespace sluice::fleet {
namespace {

using std::chrono::seconds;

class FleetTls : public FleetOps {
 protected:
  // ca.pem, server.{pem,key} (for 127.0.0.1), client.{pem,key}; false if
  // openssl failed.
  bool MakeCertificates() {
    const std::string d = dir_;
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script = "set -e; cd " + d + "; exec 2>openssl.log\n" + "openssl req -x509 " + key +
                         " -keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca\n";
    for (const char* who : {"server", "client"}) {
      const std::string w = who;
      script += "openssl req " + key + " -keyout " + w + ".key -out " + w + ".csr -subj /CN=" + w +
                "\n" + "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > " + w + ".ext\n" +
                "openssl x509 -req -in " + w + ".csr -CA ca.pem -CAkey ca.key " +
                "-CAcreateserial -out " + w + ".pem -days 2 -extfile " + w + ".ext\n" +
                "chmod 600 " + w + ".key\n";
    }
    return std::system(("bash -c '" + Escape(script) + "'").c_str()) == 0;
  }
  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

TEST_F(FleetTls, TheFleetRunsOverMutualTls) {
  if (std::system("openssl version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "openssl not installed (Debian package openssl): TLS not tested";
  }
  ASSERT_TRUE(MakeCertificates()) << Read("openssl.log");
  const int port = FreeLoopbackPort();
  const std::string token = Write("token", "s3cret\n");
  Write("a.toml", AllotterToml(port, 100,
                               "token_file = \"" + token + "\"\ntls_cert = \"" +
                                   Path("server.pem") + "\"\ntls_key = \"" + Path("server.key") +
                                   "\"\ntls_ca = \"" + Path("ca.pem") + "\"\n"));
  Start("sluice-allotter", {"--config", Path("a.toml")}, "a.log");
  testing::ScopedNamespace ns("tls");
  Write("host.toml", BudgetToml(ns.ns(), port,
                                "token_file = \"" + token + "\"\ntls_ca = \"" + Path("ca.pem") +
                                    "\"\ntls_cert = \"" + Path("client.pem") + "\"\ntls_key = \"" +
                                    Path("client.key") + "\"\n"));
  Start("sluice-forwarder", {"--budget", Path("host.toml"), "--host-id", "tls-host"}, "f.log");
  ASSERT_TRUE(Refreshes(ns.ns(), 3, seconds(15))) << Read("f.log") << Read("a.log");
  EXPECT_TRUE(LogHas("a.log", "host tls-host joined"));

  // Other clients: plaintext, and TLS without a client certificate, are
  // refused by the transport; with a certificate they reach the service.
  v1::RefreshRequest req;
  req.set_protocol(1);
  req.set_host_id("probe");
  req.set_instance(1);
  req.set_sequence(1);
  req.set_weight(1);
  req.set_token("s3cret");
  auto call = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto stub =
        v1::Allotter::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), creds));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + seconds(3));
    v1::RefreshReply reply;
    return stub->Refresh(&ctx, req, &reply).error_code();
  };
  EXPECT_EQ(call(grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = Slurp(Path("ca.pem"));
  EXPECT_EQ(call(grpc::SslCredentials(no_cert)), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = Slurp(Path("client.pem"));
  with_cert.pem_private_key = Slurp(Path("client.key"));
  EXPECT_EQ(call(grpc::SslCredentials(with_cert)), grpc::StatusCode::OK);
  req.set_token("wrong");
  req.set_sequence(2);
  EXPECT_EQ(call(grpc::SslCredentials(with_cert)), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace sluice::fleet
