// Segment creation and attach through Boost.Interprocess. Boost reports
// errors by exception; they are caught here and turned into Status.
#include "mapping.h"

#include <sys/file.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>
#include <new>

#include "platform.h"

namespace sluice {

namespace bip = boost::interprocess;

struct Mapping::Impl {
  bip::shared_memory_object shm;
  bip::mapped_region region;
};

namespace {

constexpr int64_t kLockWaitNs = 5LL * 1000 * 1000 * 1000;

std::string ShmName(std::string_view ns) { return "sluice." + std::string(ns); }

Status ErrnoStatus(const std::string& what, int err) {
  const Code code = (err == EACCES || err == EPERM) ? Code::kPermission
                    : err == ENOENT                ? Code::kNotFound
                                                   : Code::kIo;
  return Status(code, what + ": " + std::strerror(err));
}

// flock for the duration of a scope; released on every path (and by the
// kernel if the process dies).
// Waits at most kLockWaitNs: a creator that is stopped (not dead) must not
// hang every other process forever.
class FileLock {
 public:
  FileLock(int fd, int op) : fd_(fd) {
    const int64_t deadline = platform::NowNs() + kLockWaitNs;
    for (;;) {
      ok_ = flock(fd_, op | LOCK_NB) == 0;
      if (ok_ || errno != EWOULDBLOCK || platform::NowNs() > deadline) return;
      timespec ts{0, 1000 * 1000};
      nanosleep(&ts, nullptr);
    }
  }
  ~FileLock() {
    if (ok_) flock(fd_, LOCK_UN);
  }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_;
};

uint64_t FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Writes a fresh header and zeroed slots; magic last (release).
void InitSegment(char* base, uint64_t total, const OpenOptions& o, uint64_t arena_off) {
  std::memset(base, 0, arena_off);  // header + slots; arena is zero from ftruncate
  Header* h = reinterpret_cast<Header*>(base);
  h->layout_version = kLayoutVersion;
  h->header_size = kHeaderSize;
  h->slot_size = sizeof(SlotLayout);
  h->capacity = o.capacity;
  h->slots_offset = kHeaderSize;
  h->arena_offset = arena_off;
  h->arena_size = total - arena_off;
  h->total_size = total;
  h->created_realtime_ns = platform::RealtimeNs();
  h->creator_pid = platform::Pid();
  h->mode = o.mode;
  h->arena_used.store(0, std::memory_order_relaxed);
  // Release: whoever sees kMagic with acquire sees every field above.
  h->magic.store(kMagic, std::memory_order_release);
}

}  // namespace

Status ValidateHeader(const Header& h, uint64_t file_size, std::string_view path) {
  const std::string p(path);
  const uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic != kMagic) {
    return Status(Code::kCorrupt, p + ": not a sluice segment (bad magic)");
  }
  if (h.layout_version != kLayoutVersion) {
    return Status(Code::kVersion, p + ": segment layout version " +
                                      std::to_string(h.layout_version) +
                                      ", this library reads version " +
                                      std::to_string(kLayoutVersion));
  }
  if (h.header_size != kHeaderSize || h.slot_size != sizeof(SlotLayout) ||
      h.slots_offset != kHeaderSize) {
    return Status(Code::kCorrupt, p + ": header/slot sizes do not match this layout");
  }
  if (h.capacity == 0 || h.capacity > kMaxCapacity) {
    return Status(Code::kCorrupt, p + ": bad slot capacity " + std::to_string(h.capacity));
  }
  const uint64_t arena_off = h.slots_offset + uint64_t{h.capacity} * h.slot_size;
  if (h.arena_offset != arena_off || h.arena_size > kMaxArenaBytes ||
      h.total_size != arena_off + h.arena_size) {
    return Status(Code::kCorrupt, p + ": inconsistent section offsets");
  }
  const uint64_t used = h.arena_used.load(std::memory_order_relaxed);
  if (used > h.arena_size || used % kCacheLine != 0) {
    return Status(Code::kCorrupt, p + ": arena bump pointer " + std::to_string(used) +
                                      " is out of range or misaligned");
  }
  if (file_size != h.total_size) {
    return Status(Code::kCorrupt, p + ": file is " + std::to_string(file_size) +
                                      " bytes, header says " +
                                      std::to_string(h.total_size) + " (truncated?)");
  }
  return Status::OK();
}

StatusOr<std::shared_ptr<Mapping>> Mapping::Open(std::string_view ns,
                                                 const OpenOptions& o) {
  if (Status s = ValidateName(ns, "namespace"); !s.ok()) return s;
  const std::string path = Segment::PathFor(ns);
  if (o.create) {
    if (o.capacity == 0 || o.capacity > kMaxCapacity) {
      return Status(Code::kInvalidArgument, "capacity must be 1.." + std::to_string(kMaxCapacity));
    }
    if (o.arena_bytes < 4096 || o.arena_bytes > kMaxArenaBytes) {
      return Status(Code::kInvalidArgument, "arena_bytes must be 4096..2^32");
    }
    if (o.mode > 0777) return Status(Code::kInvalidArgument, "mode must be an octal permission like 0660");
  }
  std::shared_ptr<Mapping> m(new Mapping());
  m->impl_ = std::make_unique<Impl>();
  m->ns_ = std::string(ns);
  m->read_only_ = o.read_only;
  const bip::mode_t mode = o.read_only ? bip::read_only : bip::read_write;
  try {
    if (o.create && !o.read_only) {
      bip::permissions perm(static_cast<int>(o.mode));
      m->impl_->shm = bip::shared_memory_object(bip::open_or_create, ShmName(ns).c_str(),
                                                bip::read_write, perm);
    } else {
      m->impl_->shm = bip::shared_memory_object(bip::open_only, ShmName(ns).c_str(), mode);
    }
  } catch (const bip::interprocess_exception& e) {
    const int err = e.get_native_error();
    if (err == ENOENT) {
      return Status(Code::kNotFound, "namespace '" + std::string(ns) + "' does not exist (" +
                                         path + "); create it with sluicectl apply or create=true");
    }
    return ErrnoStatus(path, err ? err : EIO);
  }
  const int fd = m->impl_->shm.get_mapping_handle().handle;
  {
    // Creator and attachers serialise on an flock of the object itself: a
    // creator that dies releases it, and the next one re-initialises.
    FileLock lock(fd, (o.create && !o.read_only) ? LOCK_EX : LOCK_SH);
    if (!lock.ok()) {
      if (errno == EWOULDBLOCK) {
        return Status(Code::kIo, path + ": another process has been creating this segment for "
                                        "over 5s (stopped?); try again");
      }
      return ErrnoStatus(path + ": flock", errno);
    }
    uint64_t size = FileSize(fd);
    if (o.create && !o.read_only) {
      bool fresh = size == 0;
      if (!fresh && size >= sizeof(Header)) {
        // A creator that died before publishing magic left zeros there.
        bip::mapped_region probe(m->impl_->shm, bip::read_only, 0, sizeof(Header));
        const auto* h = static_cast<const Header*>(probe.get_address());
        fresh = h->magic.load(std::memory_order_acquire) == 0;
      }
      if (fresh) {
        const uint64_t arena_off = kHeaderSize + uint64_t{o.capacity} * sizeof(SlotLayout);
        uint64_t total = arena_off + RoundUp(o.arena_bytes, kCacheLine);
        // Never truncate below the current size: another process may still
        // map a (never initialised) old file; it is zeroed below instead.
        if (size > total && size - arena_off <= kMaxArenaBytes) total = size;
        if (size != total && ftruncate(fd, static_cast<off_t>(total)) != 0) {
          return ErrnoStatus(path + ": ftruncate", errno);
        }
        const bool reused = size != 0;
        if (fchmod(fd, o.mode) != 0) return ErrnoStatus(path + ": fchmod", errno);
        if (o.group != gid_t(-1) && fchown(fd, uid_t(-1), o.group) != 0) {
          return ErrnoStatus(path + ": fchown", errno);
        }
        try {
          bip::mapped_region r(m->impl_->shm, bip::read_write, 0, total);
          if (reused) std::memset(static_cast<char*>(r.get_address()) + arena_off, 0, total - arena_off);
          InitSegment(static_cast<char*>(r.get_address()), total, o, arena_off);
        } catch (const bip::interprocess_exception& e) {
          return ErrnoStatus(path + ": mmap", e.get_native_error());
        }
        size = total;
      }
    }
    if (size < sizeof(Header)) {
      return Status(Code::kCorrupt, path + ": truncated (" + std::to_string(size) +
                                        " bytes, smaller than a header)");
    }
    try {
      m->impl_->region = bip::mapped_region(m->impl_->shm, mode, 0, size);
    } catch (const bip::interprocess_exception& e) {
      return ErrnoStatus(path + ": mmap", e.get_native_error());
    }
    m->base_ = static_cast<char*>(m->impl_->region.get_address());
    m->size_ = size;
    m->header_ = reinterpret_cast<Header*>(m->base_);
    if (m->header_->magic.load(std::memory_order_acquire) == 0) {
      return Status(Code::kCorrupt, path + ": segment was never initialised (creator died?); "
                                           "open it with create to initialise it");
    }
    if (Status s = ValidateHeader(*m->header_, size, path); !s.ok()) return s;
    m->capacity_ = m->header_->capacity;
    m->slots_offset_ = m->header_->slots_offset;
    m->arena_offset_ = m->header_->arena_offset;
    m->arena_size_ = m->header_->arena_size;
    // The copies are what we use: check them once more (the header is shared
    // memory and could have changed since ValidateHeader read it).
    if (m->capacity_ == 0 || m->capacity_ > kMaxCapacity || m->slots_offset_ != kHeaderSize ||
        m->arena_offset_ != kHeaderSize + uint64_t{m->capacity_} * sizeof(SlotLayout) ||
        m->arena_size_ > kMaxArenaBytes || m->arena_offset_ + m->arena_size_ != size) {
      return Status(Code::kCorrupt, path + ": header changed while it was validated");
    }
  }
  return m;
}

Mapping::~Mapping() = default;

SlotLayout* Mapping::slot(uint32_t i) const {
  return reinterpret_cast<SlotLayout*>(base_ + slots_offset_ +
                                       uint64_t{i} * sizeof(SlotLayout));
}

StatusOr<uint64_t> Mapping::Allocate(uint64_t bytes) {
  if (read_only_) return Status(Code::kPermission, "segment is mapped read-only");
  bytes = RoundUp(bytes, kCacheLine);
  uint64_t used = header_->arena_used.load(std::memory_order_relaxed);
  for (;;) {
    // Shared memory: re-check what another process may have written.
    if (used % kCacheLine != 0) {
      return Status(Code::kCorrupt, "segment arena bump pointer is misaligned");
    }
    if (used > arena_size_ || bytes > arena_size_ - used) {
      return Status(Code::kFull, "segment arena is full (" + std::to_string(arena_size_) +
                                     " bytes); recreate the namespace with a larger arena");
    }
    // relaxed: the allocated bytes are published later through params_off
    // (release); the bump pointer only has to hand out disjoint ranges.
    if (header_->arena_used.compare_exchange_weak(used, used + bytes,
                                                  std::memory_order_relaxed)) {
      return arena_offset_ + used;
    }
  }
}

}  // namespace sluice
