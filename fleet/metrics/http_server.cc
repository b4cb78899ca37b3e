#include "http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>

namespace sluice::fleet::metrics {

StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kInvalidArgument,
                  "--metrics '" + std::string(text) + "': " + why + " (want HOST:PORT)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address goes in brackets");
  }
  if (host.empty()) return bad("no host");
  for (char c : host) {
    if (c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/') return bad("bad host");
  }
  if (port.empty() || port.size() > 5) return bad("bad port");
  int p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("bad port");
    p = p * 10 + (c - '0');
  }
  if (p > 65535) return bad("port above 65535");
  return ListenAddress{std::string(host), p};
}

struct HttpServer::Impl {
  httplib::Server server;
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {
  httplib::Server& s = impl_->server;
  // Two serving threads are plenty for scrapes and a status page; short
  // timeouts so that Stop() is never held up by an idle keep-alive.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  s.set_keep_alive_timeout(1);
  s.set_read_timeout(2, 0);
  s.set_write_timeout(2, 0);
  s.set_payload_max_length(1 << 16);
  // httplib's default sets SO_REUSEPORT, which lets a second daemon bind
  // the same port and share the scrapes silently. SO_REUSEADDR only: a
  // restart rebinds at once, a port in use is an error.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& path, Handler handler) {
  impl_->server.Get(path,
                    [h = std::move(handler)](const httplib::Request&, httplib::Response& res) {
                      Response r = h();
                      res.status = r.status;
                      res.set_header("Cache-Control", "no-store");
                      res.set_content(std::move(r.body), r.content_type.c_str());
                    });
}

Status HttpServer::Start(const ListenAddress& address) {
  httplib::Server& s = impl_->server;
  if (address.port == 0) {
    port_ = s.bind_to_any_port(address.host);
  } else if (s.bind_to_port(address.host, address.port)) {
    port_ = address.port;
  }
  if (port_ <= 0) {
    port_ = 0;
    return Status(Code::kIo, "cannot listen on " + address.host + ":" +
                                 std::to_string(address.port) + " for metrics");
  }
  thread_ = std::thread([this] {
    impl_->server.listen_after_bind();
    done_.store(true);
  });
  WaitRunning();
  return Status();
}

// stop() only takes effect once the accept loop runs (and must not be
// called twice while it runs): wait for the loop, or for its end.
void HttpServer::WaitRunning() {
  while (!impl_->server.is_running() && !done_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  WaitRunning();
  impl_->server.stop();
  thread_.join();
}

}  // namespace sluice::fleet::metrics
