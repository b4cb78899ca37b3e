// The daemons' metrics listener: a few GET routes served by cpp-httplib
// (Debian's libcpp-httplib) on a thread of its own, bound to the address the
// user gave (--metrics HOST:PORT). Stop() (or the destructor) closes the
// listener and waits for the serving threads, within about a second: it
// never holds up a daemon's shutdown. Thread-safe after Start().
#ifndef SLUICE_FLEET_METRICS_HTTP_SERVER_H_
#define SLUICE_FLEET_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "sluice/status.h"

namespace sluice::fleet::metrics {

struct ListenAddress {
  std::string host;  // a name, an IPv4 address, or an IPv6 one without brackets
  int port = 0;      // 0: any free port
};

// Parses HOST:PORT ([V6]:PORT for IPv6). kInvalidArgument with a message
// that names the flag's value when it is not one.
StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
};
// Called on a serving thread, one request at a time per connection.
using Handler = std::function<Response()>;

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // REQUIRES: before Start().
  void Get(const std::string& path, Handler handler);
  // Binds and starts serving. kIo when the address cannot be bound.
  Status Start(const ListenAddress& address);
  // The bound port (after Start()).
  int port() const { return port_; }
  // Idempotent.
  void Stop();

 private:
  struct Impl;
  void WaitRunning();
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> done_{false};  // the serving thread returned
  std::thread thread_;
  int port_ = 0;
};

}  // namespace sluice::fleet::metrics

#endif  // SLUICE_FLEET_METRICS_HTTP_SERVER_H_
