#include "tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

namespace sluice::testing {

TcpRelay::TcpRelay(int target_port) : target_(target_port) {
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listener_, 64) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return;
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TcpRelay::~TcpRelay() {
  stop_.store(true);
  shutdown(listener_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  Cut();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  close(listener_);
}

void TcpRelay::Cut() {
  cut_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
}

void TcpRelay::Heal() { cut_.store(false); }

void TcpRelay::Accept() {
  while (!stop_.load()) {
    const int in = accept(listener_, nullptr, nullptr);
    if (in < 0) {
      if (stop_.load()) return;
      continue;
    }
    if (cut_.load()) {
      close(in);
      continue;
    }
    const int out = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(target_));
    if (connect(out, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(in);
      close(out);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(in);
    fds_.push_back(out);
    auto ended = std::make_shared<std::atomic<int>>(0);
    threads_.emplace_back([this, in, out, ended] { Pipe(in, out, in, out, ended.get()); });
    threads_.emplace_back([this, in, out, ended] { Pipe(out, in, in, out, ended.get()); });
  }
}

// Copies until either side ends, then ends both; the second of the pair's
// two threads to finish closes both sockets.
void TcpRelay::Pipe(int from, int to, int a, int b, std::atomic<int>* ended) {
  char buf[16384];
  while (true) {
    const ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0 || cut_.load()) break;
    if (write(to, buf, static_cast<size_t>(n)) != n) break;
  }
  shutdown(from, SHUT_RDWR);
  shutdown(to, SHUT_RDWR);
  if (ended->fetch_add(1) == 1) {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(fds_, [&](int fd) { return fd == a || fd == b; });
    close(a);
    close(b);
  }
}

}  // namespace sluice::testing
