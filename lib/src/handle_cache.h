// HandleCache: the process-local state behind a Limiter handle, shared by
// its copies (limiter.cc: hot path and statistics; acquire.cc: blocking).
#ifndef SLUICE_SRC_HANDLE_CACHE_H_
#define SLUICE_SRC_HANDLE_CACHE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "layout.h"
#include "mapping.h"
#include "params.h"

namespace sluice {

// Retries of a decision that met a ring or table retired by a resize.
constexpr int kSealedRetries = 3;

struct HandleCache {
  std::shared_ptr<Mapping> m;
  SlotLayout* slot = nullptr;
  bool read_only = false;
  // The current validated parameters; older ones stay alive (a reader may
  // still use them) until the cache dies.
  std::atomic<const ActiveParams*> active{nullptr};
  std::mutex reload_mu;
  std::vector<std::unique_ptr<ActiveParams>> all;
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

  void Flush();
  // In a fork child: forgets the parent's unflushed counts (the parent
  // flushes them itself).
  void DropIfForked();
  ~HandleCache() { Flush(); }
};


}  // namespace sluice

#endif  // SLUICE_SRC_HANDLE_CACHE_H_
