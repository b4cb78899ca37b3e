#include "tls.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

namespace sluice::fleet {
namespace {

constexpr size_t kMaxPemBytes = 1 << 20;

Status ReadPem(const std::string& path, const char* what, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kInvalidArgument, path + ": cannot read " + what);
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  if (out->size() > kMaxPemBytes || out->find("-----BEGIN ") == std::string::npos) {
    return Status(Code::kInvalidArgument, path + ": " + what + " is not a PEM file");
  }
  return Status::OK();
}

Status ReadPair(const TlsFiles& f, std::string* cert, std::string* key) {
  if (f.cert.empty() != f.key.empty()) {
    return Status(Code::kInvalidArgument, "tls_cert and tls_key must be set together");
  }
  if (f.cert.empty()) return Status::OK();
  if (Status s = ReadPem(f.cert, "tls_cert", cert); !s.ok()) return s;
  return ReadPem(f.key, "tls_key", key);
}

}  // namespace

StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& f) {
  if (!f.enabled_server()) {
    if (!f.ca.empty()) {
      return Status(Code::kInvalidArgument, "tls_ca needs tls_cert and tls_key on the allotter");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions opts;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (Status s = ReadPair(f, &pair.cert_chain, &pair.private_key); !s.ok()) return s;
  opts.pem_key_cert_pairs.push_back(pair);
  if (!f.ca.empty()) {
    if (Status s = ReadPem(f.ca, "tls_ca", &opts.pem_root_certs); !s.ok()) return s;
    opts.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(opts);
}

StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsFiles& f) {
  if (!f.enabled_client()) {
    if (f.enabled_server()) {
      return Status(Code::kInvalidArgument,
                    "tls_cert and tls_key need tls_ca (the root the allotter's certificate "
                    "chains to)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions opts;
  if (Status s = ReadPem(f.ca, "tls_ca", &opts.pem_root_certs); !s.ok()) return s;
  if (Status s = ReadPair(f, &opts.pem_cert_chain, &opts.pem_private_key); !s.ok()) return s;
  return grpc::SslCredentials(opts);
}

}  // namespace sluice::fleet
