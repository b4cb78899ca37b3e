// HandleCache: the process-local state behind a Limiter handle, shared by
// its copies (limiter.cc: hot path and statistics; acquire.cc: blocking).
#ifndef SLUICE_SRC_HANDLE_CACHE_H_
#define SLUICE_SRC_HANDLE_CACHE_H_

#include <atomic>
#include <memory>
#include <type_traits>

#include "layout.h"
#include "mapping.h"
#include "params.h"
#include "slot_table.h"
#include "sluice/limiter.h"

namespace sluice {

// Retries of a decision that met a ring or table retired by a resize.
constexpr int kSealedRetries = 3;

// What the hot path needs of ActiveParams (gcra and window decide with
// nothing else).
struct HotParams {
  uint64_t off = 0;  // 0: nothing cached yet (no published word is 0)
  // ActiveParams::hot_until_ns; INT64_MIN for a read-only handle.
  int64_t hot_until_ns = INT64_MIN;
  int64_t published_ns = 0;  // decisions are dated no earlier
  gcra::Params gcra;
  window::Params window;
  uint32_t algorithm = 0;
  uint32_t writable = 0;
  // sliding, writable, with a ring: its remembered bound (sliding.h
  // invariant 8), so that a denial before it reads nothing else.
  const std::atomic<int64_t>* free_at = nullptr;
};

// What a sliding (Ring) or lease (lease::Table) decision needs besides
// HotParams.
template <typename Part>
struct WarmParams {
  uint64_t off = 0;  // as HotParams::off: the two are one version when equal
  Part part;
  uint64_t max_permits = 0;  // ActiveParams::MaxPermits()
  uint64_t global = 0;
};

// Trivially copyable values copied word by word as relaxed atomics (a
// seqlock reader may copy while a writer rewrites them, then discards it).
template <typename T>
__attribute__((always_inline)) inline void LoadWords(const T& src, T* dst) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 8 == 0 && alignof(T) >= 8);
  const auto* s = reinterpret_cast<const uint64_t*>(&src);
  auto* d = reinterpret_cast<uint64_t*>(dst);
#pragma GCC unroll 32
  for (size_t i = 0; i < sizeof(T) / 8; ++i) d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}
template <typename T>
void StoreWords(const T& src, T* dst) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % 8 == 0 && alignof(T) >= 8);
  const auto* s = reinterpret_cast<const uint64_t*>(&src);
  auto* d = reinterpret_cast<uint64_t*>(dst);
  for (size_t i = 0; i < sizeof(T) / 8; ++i) __atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

struct HandleCache {
  std::shared_ptr<Mapping> m;
  SlotLayout* slot = nullptr;
  bool read_only = false;
  // The last validated parameters, in one place per handle (so a handle's
  // memory does not grow with parameter changes), under a seqlock: `seq`
  // even = stable, odd = a thread is rewriting. Readers copy, then check
  // that seq did not move; a writer that finds another writing does not
  // wait (it decides with its own copy). No mutex: a fork child could
  // inherit one locked by a thread that does not exist in the child.
  alignas(kCacheLine) std::atomic<uint64_t> seq{0};
  HotParams hot;
  WarmParams<sliding::Ring> warm_ring;
  WarmParams<lease::Table> warm_table;
  ActiveParams params;
  // Batched counters. Increments are plain load+store (no locked RMW on the
  // hot path): exact for one thread, approximate when threads share a
  // handle. Flushed every kFlushCalls decisions or kFlushNs.
  alignas(kCacheLine) std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint32_t> calls{0};
  std::atomic<int64_t> last_flush_ns{0};
  // platform::ForkGeneration() the counters belong to: a fork child drops
  // the parent's unflushed counts instead of flushing them a second time.
  std::atomic<uint64_t> fork_gen{0};

  // Copies of the cached parameters; false while a thread rewrites them.
  __attribute__((always_inline)) bool ReadHot(HotParams* out) const {
    const uint64_t s = seq.load(std::memory_order_acquire);
    LoadWords(hot, out);
    std::atomic_thread_fence(std::memory_order_acquire);
    return (s & 1) == 0 && seq.load(std::memory_order_relaxed) == s;
  }
  template <typename Part>
  __attribute__((always_inline)) bool ReadWarm(const WarmParams<Part>& warm,
                                               WarmParams<Part>* out) const {
    const uint64_t s = seq.load(std::memory_order_acquire);
    LoadWords(warm, out);
    std::atomic_thread_fence(std::memory_order_acquire);
    return (s & 1) == 0 && seq.load(std::memory_order_relaxed) == s;
  }
  bool Read(ActiveParams* out) const;
  // Caches `p` unless another thread is caching at the same moment.
  void Store(const ActiveParams& p);
  void Flush();
  // In a fork child: forgets the parent's unflushed counts (the parent
  // flushes them itself) and a cache a parent's thread was rewriting.
  void DropIfForked();
  ~HandleCache();
};

// A handle's cache (tests).
struct LimiterInternals {
  static HandleCache& CacheOf(const Limiter& l) { return *l.cache_; }
};

template <typename Fn>
bool Limiter::RetryOnSealed(Fn&& try_once) const {
  for (int attempt = 0; attempt < kSealedRetries; ++attempt) {
    if (try_once(Params())) return true;
    Reload();  // a resize retired what we used: take the new parameters
  }
  // Still sealed with nothing new published: an updater died half way.
  slots::Repair(*m_, index_);
  return false;
}

}  // namespace sluice

#endif  // SLUICE_SRC_HANDLE_CACHE_H_
