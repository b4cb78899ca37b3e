// HandleCache: the process-local state behind a Limiter handle, shared by
// its copies (limiter.cc: hot path and statistics; acquire.cc: blocking).
#ifndef SLUICE_SRC_HANDLE_CACHE_H_
#define SLUICE_SRC_HANDLE_CACHE_H_

#include <atomic>
#include <memory>

#include "layout.h"
#include "mapping.h"
#include "params.h"
#include "slot_table.h"
#include "sluice/limiter.h"

namespace sluice {

// Retries of a decision that met a ring or table retired by a resize.
constexpr int kSealedRetries = 3;

struct HandleCache {
  std::shared_ptr<Mapping> m;
  SlotLayout* slot = nullptr;
  bool read_only = false;
  // The current validated parameters; older ones stay alive (a reader may
  // still use them) until the cache dies, in the lock-free list `kept`.
  // No mutex: a fork child could inherit one locked by a thread of the
  // parent that does not exist in the child.
  struct KeptParams {
    ActiveParams params;
    KeptParams* next;
  };
  std::atomic<const ActiveParams*> active{nullptr};
  std::atomic<KeptParams*> kept{nullptr};
  // Batched counters. Increments are plain load+store (no locked RMW on the
  // hot path): exact for one thread, approximate when threads share a
  // handle. Flushed every kFlushCalls decisions or kFlushNs.
  std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint32_t> calls{0};
  std::atomic<int64_t> last_flush_ns{0};
  // platform::ForkGeneration() the counters belong to: a fork child drops
  // the parent's unflushed counts instead of flushing them a second time.
  std::atomic<uint64_t> fork_gen{0};

  // Keeps `p` alive as long as the cache; returns its stable address.
  // Thread-safe, lock-free.
  const ActiveParams* Keep(ActiveParams p);
  void Flush();
  // In a fork child: forgets the parent's unflushed counts (the parent
  // flushes them itself).
  void DropIfForked();
  ~HandleCache();
};

template <typename Fn>
bool Limiter::RetryOnSealed(Fn&& try_once) const {
  for (int attempt = 0; attempt < kSealedRetries; ++attempt) {
    if (try_once(*Params())) return true;
    Reload();  // a resize retired what we used: take the new parameters
  }
  // Still sealed with nothing new published: an updater died half way.
  slots::Repair(*m_, index_);
  return false;
}

}  // namespace sluice

#endif  // SLUICE_SRC_HANDLE_CACHE_H_
