#include "peers.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <new>
#include <zmq.hpp>

#include "bench_util.h"

namespace sluice_bench {
namespace {

// GCRA in Lua, in microseconds of the server's clock (redis TIME).
// ARGV[1] = T (us per permit), ARGV[2] = tau (burst * T, us).
constexpr const char* kGcraLua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + T
if nxt - tau > now then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil(tau / 1000) + 1)
return 1
)lua";

}  // namespace

bool BucketState::Take(int64_t now) {
  if (now > last_ns) {
    tokens = std::min(burst, tokens + double(now - last_ns) * per_ns);
    last_ns = now;
  }
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

StdMutexBucket::StdMutexBucket(double rate_per_s, double burst) {
  s_.tokens = s_.burst = burst;
  s_.per_ns = rate_per_s / 1e9;
  s_.last_ns = NowNs();
}

bool StdMutexBucket::TryAcquire() {
  const int64_t now = NowNs();
  std::lock_guard<std::mutex> lock(mu_);
  return s_.Take(now);
}

RobustMutexBucket* RobustMutexBucket::Create(double rate_per_s, double burst) {
  void* mem = MapShared(sizeof(RobustMutexBucket));
  auto* b = new (mem) RobustMutexBucket();
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&b->mu_, &a);
  pthread_mutexattr_destroy(&a);
  b->s_.tokens = b->s_.burst = burst;
  b->s_.per_ns = rate_per_s / 1e9;
  b->s_.last_ns = NowNs();
  return b;
}

bool RobustMutexBucket::TryAcquire() {
  const int64_t now = NowNs();
  if (pthread_mutex_lock(&mu_) == EOWNERDEAD) pthread_mutex_consistent(&mu_);
  const bool ok = s_.Take(now);
  pthread_mutex_unlock(&mu_);
  return ok;
}

std::unique_ptr<RedisGcra> RedisGcra::Connect(int port, const std::string& key, double rate_per_s,
                                              double burst) {
  std::unique_ptr<RedisGcra> r(new RedisGcra());
  r->c_ = redisConnect("127.0.0.1", port);
  if (r->c_ == nullptr || r->c_->err) {
    fprintf(stderr, "redis: connect 127.0.0.1:%d: %s\n", port, r->c_ ? r->c_->errstr : "oom");
    return nullptr;
  }
  auto* rep = static_cast<redisReply*>(redisCommand(r->c_, "SCRIPT LOAD %s", kGcraLua));
  if (rep == nullptr || rep->type != REDIS_REPLY_STRING) {
    fprintf(stderr, "redis: SCRIPT LOAD failed\n");
    if (rep) freeReplyObject(rep);
    return nullptr;
  }
  r->sha_.assign(rep->str, rep->len);
  freeReplyObject(rep);
  const double t_us = 1e6 / rate_per_s;
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", t_us);
  r->t_us_ = buf;
  snprintf(buf, sizeof buf, "%.3f", t_us * burst);
  r->tau_us_ = buf;
  r->key_ = key;
  redisReply* del = static_cast<redisReply*>(redisCommand(r->c_, "DEL %s", key.c_str()));
  if (del) freeReplyObject(del);
  return r;
}

RedisGcra::~RedisGcra() {
  if (c_) redisFree(c_);
}

bool RedisGcra::TryAcquire() {
  auto* rep = static_cast<redisReply*>(redisCommand(c_, "EVALSHA %s 1 %s %s %s", sha_.c_str(),
                                                    key_.c_str(), t_us_.c_str(), tau_us_.c_str()));
  if (rep == nullptr) {
    fprintf(stderr, "redis: %s\n", c_->errstr);
    std::abort();
  }
  const bool ok = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
  freeReplyObject(rep);
  return ok;
}

struct ZmqWindowClient::Impl {
  zmq::context_t ctx{1};
  zmq::socket_t sock{ctx, zmq::socket_type::req};
};

std::unique_ptr<ZmqWindowClient> ZmqWindowClient::Connect(int port, const std::string& key) {
  std::unique_ptr<ZmqWindowClient> c(new ZmqWindowClient());
  c->impl_ = std::make_unique<Impl>();
  c->impl_->sock.set(zmq::sockopt::linger, 0);
  c->impl_->sock.connect("tcp://127.0.0.1:" + std::to_string(port));
  c->key_ = key + " 1";
  return c;
}

ZmqWindowClient::~ZmqWindowClient() = default;

bool ZmqWindowClient::TryAcquire() {
  impl_->sock.send(zmq::buffer(key_), zmq::send_flags::none);
  zmq::message_t reply;
  if (!impl_->sock.recv(reply, zmq::recv_flags::none)) std::abort();
  return reply.size() > 0 && static_cast<const char*>(reply.data())[0] == '1';
}

void ZmqWindowClient::Quit() {
  impl_->sock.send(zmq::str_buffer("quit"), zmq::send_flags::none);
  zmq::message_t reply;
  (void)impl_->sock.recv(reply, zmq::recv_flags::none);
}

}  // namespace sluice_bench
