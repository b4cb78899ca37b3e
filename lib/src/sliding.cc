#include "sliding.h"

#include <algorithm>
#include <vector>

#include "layout.h"
#include "sluice/duration.h"

namespace sluice::sliding {
namespace {

bool Expired(int64_t v, int64_t window, int64_t now) { return v != kSealed && v <= now - window; }

// v + window without overflow (ring words come from shared memory).
int64_t FreesAt(int64_t v, int64_t window) {
  return v > INT64_MAX - window ? INT64_MAX : v + window;
}

// Keeps the n smallest expiry times seen, to tell when n words will be free.
class SmallestN {
 public:
  explicit SmallestN(uint32_t n) : n_(std::min<uint32_t>(n, kCap)) {}
  void Add(int64_t t) {
    if (size_ < n_) {
      v_[size_++] = t;
      std::push_heap(v_, v_ + size_);
    } else if (n_ > 0 && t < v_[0]) {
      std::pop_heap(v_, v_ + size_);
      v_[size_ - 1] = t;
      std::push_heap(v_, v_ + size_);
    }
    max_seen_ = std::max(max_seen_, t);
  }
  bool empty() const { return size_ == 0; }
  // The n-th smallest (exact for n <= kCap, else an upper bound).
  // REQUIRES: !empty().
  int64_t Nth(uint32_t n) const {
    if (n <= kCap && size_ == n) return v_[0];
    return max_seen_;
  }

 private:
  static constexpr uint32_t kCap = 32;
  uint32_t n_;
  uint32_t size_ = 0;
  int64_t v_[kCap];
  int64_t max_seen_ = INT64_MIN;
};

}  // namespace

void ForgetFreeAt(std::atomic<int64_t>* free_at, std::atomic<uint64_t>* free_seq) {
  if (free_at == nullptr) return;
  // seq_cst, and in this order (invariant 8).
  free_seq->fetch_add(1, std::memory_order_seq_cst);
  free_at->store(0, std::memory_order_seq_cst);
}

namespace {

// Invariant 8: remembers `bound` unless a refund or change overlapped the
// scan that found it (free_seq moved since `seq0`).
void RememberFreeAt(const Ring& r, uint64_t seq0, int64_t bound) {
  r.free_at->store(bound, std::memory_order_seq_cst);
  if (r.free_seq->load(std::memory_order_seq_cst) != seq0) {
    int64_t expected = bound;
    r.free_at->compare_exchange_strong(expected, 0, std::memory_order_seq_cst);
  }
}

}  // namespace

Decision TryAcquire(const Ring& r, uint32_t n, int64_t now, bool* sealed) {
  if (n > r.len) return {false, now, -1};
  if (r.len == 0) return {false, now, kNanosPerMilli};  // REQUIRES n >= 1: unreachable
  uint64_t seq0 = 0;
  if (r.free_at != nullptr) {
    // Invariant 8: no word frees before free_at (relaxed: a stale value is
    // still a bound, or an older one that only costs a scan).
    const int64_t bound = r.free_at->load(std::memory_order_relaxed);
    if (now < bound) return {false, now, Until(bound, now)};
    seq0 = r.free_seq->load(std::memory_order_seq_cst);
  }
  const uint64_t start = r.hint->load(std::memory_order_relaxed) % r.len;
  // Scan at least the permits asked for plus kMaxScan, so large requests can
  // succeed on a large idle ring.
  const uint64_t first = std::min<uint64_t>(r.len, kMaxScan + n);
  Undo inline_undo[8];
  std::vector<Undo> heap_undo;  // only for n > 8
  Undo* undo = inline_undo;
  if (n > 8) {
    heap_undo.resize(n);
    undo = heap_undo.data();
  }
  uint32_t got = 0;
  uint64_t last = start;
  SmallestN soonest(n);
  int64_t earliest = INT64_MAX;  // the smallest expiry seen
  uint64_t k = 0;
  for (; k < r.len && got < n; ++k) {
    if (k == first && (got > 0 || r.free_at == nullptr ||
                       Until(earliest, now) / kScanNsPerWord <= int64_t(r.len - k))) {
      break;  // the rest of the ring is not worth scanning now
    }
    const uint64_t i = (start + k) % r.len;
    int64_t v = r.words[i].load(std::memory_order_relaxed);
    if (v == kSealed) {
      *sealed = true;
      break;
    }
    if (Expired(v, r.window_ns, now) &&
        r.words[i].compare_exchange_strong(v, now, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      undo[got++] = {i, v};
      last = i;
      continue;
    }
    // v is the fresh value after a failed CAS.
    if (v != kSealed) {
      const int64_t t = FreesAt(v, r.window_ns);
      soonest.Add(t);
      earliest = std::min(earliest, t);
    }
  }
  const bool whole = k == r.len && got == 0 && !*sealed && r.free_at != nullptr;
  // Invariant 8: a scan that read a word a change rewrote (release) must
  // see that change's params_off before it may remember a bound.
  if (whole) std::atomic_thread_fence(std::memory_order_acquire);
  if (r.Replaced()) {
    // Invariant 7: the words taken stay taken (they can only count longer).
    *sealed = true;
    return {false, now, 0};
  }
  if (got == n) {
    // The hint shares the cache line of the first ring words (see
    // RingHeader in layout.h), so small rings still touch one line.
    r.hint->store((last + 1) % r.len, std::memory_order_relaxed);
    return {true, now, 0};
  }
  Refund(r, got, undo, now);
  if (whole && earliest > now && earliest != INT64_MAX) RememberFreeAt(r, seq0, earliest);
  // Nothing seen (a sealed ring): try again soon, after the reload.
  int64_t wait = soonest.empty() ? kNanosPerMilli : Until(soonest.Nth(n - got), now);
  if (wait < 1) wait = 1;
  return {false, now, wait};
}

Reservation Reserve(const Ring& r, uint32_t n, int64_t now, int64_t max_wait_ns, Undo* undo) {
  Reservation res;
  if (n > r.len) {
    res.retry_after_ns = -1;
    return res;
  }
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // Pick the n words that free first (full scan: this is the slow path).
    std::vector<std::pair<int64_t, uint64_t>> words(r.len);
    for (uint64_t i = 0; i < r.len; ++i) {
      int64_t v = r.words[i].load(std::memory_order_relaxed);
      if (v == kSealed) {
        res.sealed = true;
        return res;
      }
      words[i] = {v, i};
    }
    std::nth_element(words.begin(), words.begin() + (n - 1), words.end());
    int64_t latest = INT64_MIN;
    for (uint32_t j = 0; j < n; ++j) latest = std::max(latest, words[j].first);
    const int64_t grant = std::max(now, FreesAt(latest, r.window_ns));
    if (max_wait_ns >= 0 && grant - now > max_wait_ns) {
      res.retry_after_ns = grant - now;
      return res;
    }
    uint32_t got = 0;
    for (; got < n; ++got) {
      int64_t v = words[got].first;
      if (!r.words[words[got].second].compare_exchange_strong(v, grant, std::memory_order_acquire,
                                                              std::memory_order_relaxed)) {
        break;
      }
      undo[got] = {words[got].second, words[got].first};
    }
    if (r.Replaced()) {
      res.sealed = true;  // invariant 7: what was taken stays taken
      return res;
    }
    if (got == n) {
      res.ok = true;
      res.grant_ns = grant;
      return res;
    }
    Refund(r, got, undo, grant);  // lost a race; rescan
  }
  res.retry_after_ns = 1;
  return res;
}

void Refund(const Ring& r, uint32_t n, const Undo* undo, int64_t grant_ns) {
  if (n == 0) return;
  for (uint32_t j = 0; j < n; ++j) {
    int64_t expected = grant_ns;
    // Fails only if the word was reused after expiring: then leave it.
    r.words[undo[j].index].compare_exchange_strong(expected, undo[j].old, std::memory_order_relaxed,
                                                   std::memory_order_relaxed);
  }
  // Invariant 8: the words may now free before a remembered bound.
  ForgetFreeAt(r.free_at, r.free_seq);
}

uint64_t Used(const Ring& r, int64_t now, int64_t* next_free_ns) {
  uint64_t used = 0;
  int64_t soonest = INT64_MAX;
  for (uint64_t i = 0; i < r.len; ++i) {
    const int64_t v = r.words[i].load(std::memory_order_relaxed);
    if (v == kSealed || !Expired(v, r.window_ns, now)) {
      ++used;
      if (v != kSealed) soonest = std::min(soonest, Until(FreesAt(v, r.window_ns), now));
    }
  }
  if (next_free_ns) *next_free_ns = used < r.len ? 0 : soonest;
  return used;
}

}  // namespace sluice::sliding
