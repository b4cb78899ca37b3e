// A TCP relay on 127.0.0.1 for tests: forwards every connection to a target
// port until Cut(), which closes them all and refuses new ones (a network
// partition between one process and a server) until Heal(). Thread-safe.
#ifndef SLUICE_TESTS_FLEET_TCP_RELAY_H_
#define SLUICE_TESTS_FLEET_TCP_RELAY_H_

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::testing {

class TcpRelay {
 public:
  explicit TcpRelay(int target_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }  // 0: could not listen
  void Cut();
  void Heal();

 private:
  void Accept();
  void Pipe(int from, int to, int a, int b, std::atomic<int>* ended);

  int target_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false}, stop_{false};
  std::mutex mu_;
  std::vector<int> fds_;  // open relayed sockets
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace sluice::testing

#endif  // SLUICE_TESTS_FLEET_TCP_RELAY_H_
