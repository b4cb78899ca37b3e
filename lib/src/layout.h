// The fixed binary layout of a sluice segment (/dev/shm/sluice.<ns>).
// docs/segment-format.md describes it in prose; this file is the truth.
//
// Every type here lives in shared memory: standard-layout, fixed size, only
// always-lock-free 64/32-bit atomics, no pointers (offsets from the segment
// start, bounds-checked before use), no locks. A process killed at any
// instruction leaves every word in a state the others can read and use.
//
// Segment := Header | SlotLayout[capacity] | arena
//   arena holds each slot's two ParamsRecord banks, sliding rings (int64
//   per permit) and lease HolderEntry arrays, allocated by a bump pointer,
//   never freed. A parameter change rewrites the unpublished bank and the
//   ring or table in place, so changes run forever in bounded space (a ring
//   is reallocated only to grow past its capacity, at least doubling).
#ifndef SLUICE_SRC_LAYOUT_H_
#define SLUICE_SRC_LAYOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace sluice {

constexpr uint64_t kMagic = 0x31454349554C53ULL;  // "SLUICE1\0" little-endian
constexpr uint32_t kLayoutVersion = 4;
constexpr size_t kCacheLine = 64;
constexpr size_t kHeaderSize = 4096;
constexpr uint32_t kMaxCapacity = 1u << 16;
constexpr uint64_t kMaxArenaBytes = uint64_t{1} << 32;

// Sentinels stored in ring words and holder expiries.
constexpr int64_t kFreeStamp = INT64_MIN / 4;  // never granted; always free
constexpr int64_t kSealed = INT64_MAX;         // retired by a resize

// Header: first 4096 bytes. Written once by the creator before the file is
// linked at its path (mapping.cc); magic is stored last with release
// ordering, so a reader that sees kMagic (acquire) sees every other header
// field. Only arena_used changes later.
struct Header {
  std::atomic<uint64_t> magic;
  uint32_t layout_version;
  uint32_t header_size;   // kHeaderSize
  uint32_t slot_size;     // sizeof(SlotLayout)
  uint32_t capacity;      // number of slots
  uint64_t slots_offset;  // == header_size
  uint64_t arena_offset;  // slots_offset + capacity * slot_size
  uint64_t arena_size;    // bytes
  uint64_t total_size;    // arena_offset + arena_size == file size
  int64_t created_realtime_ns;
  uint32_t creator_pid;
  uint32_t mode;
  alignas(kCacheLine) std::atomic<uint64_t> arena_used;  // bump pointer
};

// Slot status word: low 8 bits the state, bits 8-31 a tag of the PID
// namespace and bits 32-63 the pid that set an INIT/UPDATING state (so a
// dead initialiser can be taken over, by a process that can see its pid).
enum SlotState : uint64_t {
  kSlotEmpty = 0,     // never used; every later slot is empty too
  kSlotInit = 1,      // being defined by pid (status >> 32)
  kSlotReady = 2,     // live
  kSlotUpdating = 3,  // live; pid is changing its parameters
  kSlotRetired = 4,   // hidden from Find/List; state kept
};
inline uint64_t MakeStatus(SlotState s, uint32_t pid) { return (uint64_t{pid} << 32) | s; }
inline SlotState StatusState(uint64_t v) { return SlotState(v & 0xff); }
inline uint32_t StatusPid(uint64_t v) { return uint32_t(v >> 32); }

// One limiter: 4 cache lines.
struct alignas(kCacheLine) SlotLayout {
  // Line 0, the hot line: every decision reads params_off and CASes state
  // (gcra, window) here. Nothing else is written here on the hot path.
  std::atomic<int64_t> state;        // gcra: TAT ns; window: idx<<24|count;
                                     // lease: the next waiter's ticket (lease_queue.h)
  std::atomic<uint64_t> params_off;  // the published record: ParamsWord
  std::atomic<uint64_t> token;       // lease: last fencing token issued;
                                     // window: full index of the last move
  std::atomic<uint64_t> ring_hint;   // lease: where to scan from
  std::atomic<uint32_t> wake_seq;    // futex word: lease releases with sleepers, changes
  std::atomic<uint32_t> sleepers;    // blocked lease waiters (approximate)
  std::atomic<int64_t> full_until;   // lease: no entry frees before (0: not
                                     // known; lease_table.h invariant 9)
  // Line 1: statistics, flushed in batches by each process.
  alignas(kCacheLine) std::atomic<uint64_t> granted;
  std::atomic<uint64_t> denied;
  std::atomic<uint64_t> asked;
  std::atomic<uint64_t> waits;
  std::atomic<uint64_t> wait_ns;
  std::atomic<int64_t> waiting;
  std::atomic<int64_t> demand_epoch_ns;  // start of the demand interval
  std::atomic<uint64_t> demand_asked;    // asked at demand_epoch_ns
  // Line 2: control.
  alignas(kCacheLine) std::atomic<uint64_t> status;
  std::atomic<uint64_t> demand_milli;   // permits/s * 1000, last interval
  uint64_t records_off;                 // the two ParamsRecord banks (written in INIT)
  std::atomic<uint64_t> queue_since;    // lease: when the ticket served became so
  std::atomic<uint64_t> defined_seq;    // bumped on each define/update
  std::atomic<uint64_t> queue_serving;  // lease: the ticket served | the tickets
                                        // gone after it << 32 (lease_queue.h)
  // Line 3: name, written before status becomes READY (release).
  alignas(kCacheLine) char name[64];  // NUL-terminated, <= 63 chars
};

// params_off: generation << 32 | arena offset of the published record (one
// of the slot's two banks; offsets are < kMaxArenaBytes = 2^32). Every
// change increments the generation, so a handle that cached the word knows
// its record is still the published one: the word would repeat only after
// 2^32 changes with one handle unaware of all of them.
inline uint64_t ParamsWord(uint64_t gen, uint64_t off) { return (gen << 32) | (off & 0xffffffffu); }
inline uint64_t ParamsWordOffset(uint64_t w) { return w & 0xffffffffu; }
inline uint64_t ParamsWordGen(uint64_t w) { return w >> 32; }

// Parameters of a limiter, with the fleet share they come from. A change
// writes the slot's unpublished bank (word by word, relaxed atomic stores)
// and publishes it by a release store of params_off. Readers copy the
// record, then check that params_off still names it (a seqlock: the bank
// is rewritten only after it stopped being published, and a reader that
// copied it then sees another params_off and reads again).
struct alignas(kCacheLine) ParamsRecord {
  uint32_t magic;      // kParamsMagic
  uint32_t algorithm;  // sluice::Algorithm
  uint64_t rate;
  int64_t period_ns;
  uint64_t burst;
  uint64_t limit;
  int64_t window_ns;
  uint64_t holders;
  int64_t ttl_ns;
  uint32_t flags;        // kFlagReclaim | kFlagGlobal
  uint32_t carry_count;  // grants a shrink dropped from the ring/table
  uint64_t ring_off;     // sliding: RingHeader + int64[ring_len];
                         // lease: HolderEntry[ring_len]
  uint64_t ring_len;
  // With carry_count: sliding: the dropped grants count as made at this
  // time (the latest of them) until it expires; lease: the latest expiry of
  // the dropped leases, and no grant before it. See docs/design.md "Live
  // parameter changes".
  int64_t carry_until_ns;
  uint64_t ring_cap;  // words / entries allocated at ring_off (>= ring_len);
                      // those past ring_len hold kSealed
  // Fleet (kFlagGlobal): the budget file's amounts (caps; 0: none) and the
  // share the effective amounts above come from (docs/fleet.md).
  uint64_t cap_amount;  // rate / limit / holders
  uint64_t cap_burst;   // gcra
  uint32_t stage;       // admin::ShareStage
  uint32_t reserved1;
  int64_t stage_end_ns;  // decisions at or after it lapse to the next stage
  uint64_t share_amount;
  uint64_t share_burst;
  int64_t share_expires_ns;
  uint64_t fallback_amount;
  uint64_t fallback_burst;
  int64_t fallback_until_ns;
  uint64_t epoch;
  int64_t drained_ns;    // from then on no more than the amounts in force
  uint64_t amount_gen;   // bumped by each change of amounts, shape or state
                         // (not by one that only renews a share)
  int64_t published_ns;  // the change's time: decisions under this record are
                         // dated no earlier (a clock read before it is stale)
  uint64_t reserved2[5];
};
constexpr uint32_t kParamsMagic = 0x4D524150;  // "PARM"
constexpr uint32_t kFlagReclaim = 1;
constexpr uint32_t kFlagGlobal = 2;
constexpr uint32_t kFlagClosed = 4;  // amount 0: gcra/window keep their last
                                     // amounts as the state's units; deny all
constexpr uint32_t kParamsWords = 32;

// A sliding ring in the arena: a 32-byte header, then `len` int64 grant
// times. Allocated 64-byte aligned so the header and the first 4 words
// share a cache line. hint: where to start scanning (any value is safe).
// free_at: no word of the ring frees before this time (a lower bound that a
// full scan remembers; 0: unknown). free_seq: bumped by whatever can free a
// word earlier than its expiry (a refund, a parameter change), so a scan
// that overlapped one does not leave its bound behind (sliding.h
// invariant 8).
struct RingHeader {
  std::atomic<uint64_t> hint;
  std::atomic<int64_t> free_at;
  std::atomic<uint64_t> free_seq;
  uint64_t reserved;
};
static_assert(sizeof(RingHeader) == 32);

// One lease holder, on its own cache line. expiry > 0: held until expiry.
// expiry <= 0: released; -expiry was its expiry. Every new value of expiry
// is larger in absolute value than the one it replaces, so (index, expiry)
// names one grant forever (no ABA).
struct alignas(kCacheLine) HolderEntry {
  std::atomic<int64_t> expiry;
  std::atomic<uint64_t> owner;         // pid << 32 | low 32 bits of expiry
  std::atomic<uint64_t> owner_pidns;   // owner's PID namespace id (0: unknown)
  std::atomic<uint64_t> token;         // fencing token of the current grant
  std::atomic<int64_t> granted_ns;     // time of the current grant
  std::atomic<int64_t> free_since_ns;  // released: not takeable before this
  uint64_t reserved[2];
};

// After a lease table's ring_cap HolderEntry: kWaiterSlots words, slot
// t % kWaiterSlots naming the waiter of ticket t (pid << 32 | t), so that a
// waiter killed while queued is moved past at once (lease_queue.h).
constexpr uint32_t kWaiterSlots = 64;

static_assert(std::is_standard_layout_v<Header>);
static_assert(std::is_standard_layout_v<SlotLayout>);
static_assert(std::is_standard_layout_v<ParamsRecord>);
static_assert(std::is_standard_layout_v<HolderEntry>);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<int64_t>) == 8 && sizeof(std::atomic<uint32_t>) == 4);
static_assert(sizeof(Header) <= kHeaderSize);
static_assert(sizeof(SlotLayout) == 4 * kCacheLine);
static_assert(offsetof(SlotLayout, granted) == kCacheLine);
static_assert(offsetof(SlotLayout, status) == 2 * kCacheLine);
static_assert(offsetof(SlotLayout, name) == 3 * kCacheLine);
static_assert(sizeof(ParamsRecord) == 4 * kCacheLine);
static_assert(sizeof(ParamsRecord) == kParamsWords * 8);
static_assert(sizeof(HolderEntry) == kCacheLine);

}  // namespace sluice

#endif  // SLUICE_SRC_LAYOUT_H_
