// The classic fixed-window counter server, the peer sluice's `window`
// algorithm replaces: a ZeroMQ REP socket on 127.0.0.1 answering
// "<key> <permits>" with "1" (granted) or "0", counting at most --limit
// permits per aligned window of --window-ms per key. "quit" stops it; so
// does --max-seconds (a bound, so a forgotten server never lingers).
//
// Usage: sluice_bench_zmq_server --port P [--limit N] [--window-ms W]
//                                [--max-seconds S]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <zmq.hpp>

#include "bench_util.h"

namespace {

struct Window {
  int64_t index = -1;
  uint64_t count = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  uint64_t limit = 1000000000;
  int64_t window_ns = 1000000000;
  int64_t max_seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port"))
      port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--limit"))
      limit = strtoull(argv[i + 1], nullptr, 10);
    else if (!strcmp(argv[i], "--window-ms"))
      window_ns = atoll(argv[i + 1]) * 1000000;
    else if (!strcmp(argv[i], "--max-seconds"))
      max_seconds = atoll(argv[i + 1]);
  }
  if (port <= 0 || window_ns <= 0) {
    fprintf(stderr, "usage: %s --port P [--limit N] [--window-ms W] [--max-seconds S]\n", argv[0]);
    return 2;
  }
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::rep};
  sock.bind("tcp://127.0.0.1:" + std::to_string(port));
  std::unordered_map<std::string, Window> windows;
  const int64_t end = sluice_bench::NowNs() + max_seconds * 1000000000;
  zmq::pollitem_t items[] = {{sock.handle(), 0, ZMQ_POLLIN, 0}};
  fprintf(stderr, "zmq window server on 127.0.0.1:%d\n", port);
  while (sluice_bench::NowNs() < end) {
    zmq::poll(items, 1, std::chrono::milliseconds(100));
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t req;
    if (!sock.recv(req, zmq::recv_flags::none)) continue;
    const std::string msg(static_cast<const char*>(req.data()), req.size());
    if (msg == "quit") {
      sock.send(zmq::str_buffer("bye"), zmq::send_flags::none);
      break;
    }
    const size_t sp = msg.rfind(' ');
    const std::string key = msg.substr(0, sp);
    const uint64_t n = sp == std::string::npos ? 1 : strtoull(msg.c_str() + sp + 1, nullptr, 10);
    Window& w = windows[key];
    const int64_t idx = sluice_bench::NowNs() / window_ns;
    if (idx != w.index) {
      w.index = idx;
      w.count = 0;
    }
    const bool ok = w.count + n <= limit;
    if (ok) w.count += n;
    sock.send(ok ? zmq::str_buffer("1") : zmq::str_buffer("0"), zmq::send_flags::none);
  }
  return 0;
}
