// The limiters sluice is compared against, each behind one TryAcquire():
//  - StdMutexBucket: a token bucket behind a std::mutex, one process.
//  - RobustMutexBucket: a token bucket in shared memory behind a
//    process-shared robust pthread mutex (the nginx limit_req approach).
//  - RedisGcra: GCRA as a Lua script in Redis, called with EVALSHA.
//  - ZmqWindowClient: the classic fixed-window counter server behind
//    ZeroMQ REQ/REP (server: zmq_window_server.cc).
// The in-process peers are thread-safe; the network clients are not (one
// connection each).
#ifndef SLUICE_BENCH_PEERS_H_
#define SLUICE_BENCH_PEERS_H_

#include <pthread.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

struct redisContext;

namespace sluice_bench {

// Token bucket state: `tokens` refilled at `per_ns` per ns up to `burst`.
struct BucketState {
  double tokens = 0;
  double burst = 0;
  double per_ns = 0;
  int64_t last_ns = 0;
  // Refills to `now` and takes one token if there is one.
  bool Take(int64_t now);
};

class StdMutexBucket {
 public:
  StdMutexBucket(double rate_per_s, double burst);
  bool TryAcquire();

 private:
  std::mutex mu_;
  BucketState s_;
};

// Lives in a MAP_SHARED mapping so fork children share it.
class RobustMutexBucket {
 public:
  // Placement-creates the bucket in a fresh shared mapping.
  static RobustMutexBucket* Create(double rate_per_s, double burst);
  bool TryAcquire();

 private:
  RobustMutexBucket() = default;
  pthread_mutex_t mu_;
  BucketState s_;
};

class RedisGcra {
 public:
  // Connects to 127.0.0.1:port and loads the script; nullptr on failure
  // (the reason on stderr).
  static std::unique_ptr<RedisGcra> Connect(int port, const std::string& key, double rate_per_s,
                                            double burst);
  ~RedisGcra();
  bool TryAcquire();

 private:
  RedisGcra() = default;
  redisContext* c_ = nullptr;
  std::string sha_, key_, t_us_, tau_us_;
};

class ZmqWindowClient {
 public:
  static std::unique_ptr<ZmqWindowClient> Connect(int port, const std::string& key);
  ~ZmqWindowClient();
  bool TryAcquire();
  // Asks the server to exit.
  void Quit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string key_;
};

}  // namespace sluice_bench

#endif  // SLUICE_BENCH_PEERS_H_
