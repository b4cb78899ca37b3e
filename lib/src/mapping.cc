// Segment creation and attach: the protocol (who creates, who waits, what
// is valid) over the file operations of shm_file.h.
#include "mapping.h"

#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common.h"
#include "platform.h"
#include "shm_file.h"
#include "sluice/duration.h"

namespace sluice {

struct Mapping::Impl {
  shm::Fd fd;  // kept open: Allocate reserves the pages it hands out
};

namespace {

// How long an opener waits for another process that holds the flock of a
// not yet initialised file (an older library's creator, or a repair).
constexpr int64_t kLockWaitNs = 5 * kNanosPerSecond;
// Looks at the path again after creating, repairing or losing a race; each
// retry means another process changed the path in between.
constexpr int kMaxAttempts = 8;

std::string WorldWritableMessage(uint32_t mode) {
  return "mode " + FormatMode(mode) +
         " is world-writable: any user on the host could write the segment and deny service to "
         "every process using it; use a group mode like 0660 (with OpenOptions::group), or set "
         "OpenOptions::allow_world_writable to accept that risk";
}

Status NotFound(std::string_view ns, const std::string& path) {
  return Status(Code::kNotFound, "namespace '" + std::string(ns) + "' does not exist (" + path +
                                     "); create it with sluicectl apply or create=true");
}

Status LockTimeout(const std::string& path) {
  return Status(Code::kIo, path +
                               ": another process has held the lock of this uninitialised "
                               "segment for over 5s (a stopped creator?); try again, or "
                               "remove it");
}

// Writes a fresh header into zeroed memory; magic last (release).
void InitSegment(char* base, uint64_t total, const OpenOptions& o, uint64_t arena_off) {
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

// Builds a complete segment in a file nobody else can see yet, with every
// page reserved, then publishes it at `path`: linked (kExists if another
// creator was first) or, to repair a never-initialised file, renamed over
// it. On any error nothing is left behind.
Status CreateSegment(const std::string& path, const OpenOptions& o, bool replace) {
  const uint64_t arena_off = kHeaderSize + uint64_t{o.capacity} * sizeof(SlotLayout);
  const uint64_t total = arena_off + RoundUp(o.arena_bytes, kCacheLine);
  StatusOr<shm::NewFile> f = shm::NewFile::Create(path, o.mode, o.group);
  if (!f.ok()) return f.status();
  if (Status s = shm::Reserve(f->fd(), 0, total, path); !s.ok()) return s;
  Status s;
  char* base = shm::Map(f->fd(), total, /*writable=*/true, path, &s);
  if (base == nullptr) return s;
  InitSegment(base, total, o, arena_off);  // the reserved pages are zero
  shm::Unmap(base, total);
  return replace ? f->PublishReplacing() : f->Publish();
}

// `fd` is a file at `path` whose magic is 0: what a creator that died half
// way leaves (or an older library's creator, still initialising in place
// under its flock). Waits for that creator's lock, then replaces the file
// with a complete segment unless someone else already did. On success the
// caller looks at `path` again.
Status Repair(const std::string& path, int fd, const shm::FileInfo& info, const OpenOptions& o) {
  if (!shm::LockWithin(fd, LOCK_EX, kLockWaitNs)) {
    return errno == EWOULDBLOCK ? LockTimeout(path)
                                : Status(Code::kIo, path + ": flock: " + std::strerror(errno));
  }
  if (!shm::StillAt(path, info) || shm::ReadMagic(fd) != 0) return Status::OK();
  return CreateSegment(path, o, /*replace=*/true);
}

}  // namespace

Status CheckOwner(uid_t owner, const std::string& path, std::string_view ns) {
  const uid_t me = geteuid();
  if (owner == me) return Status::OK();
  const std::string n(ns);
  return Status(Code::kPermission,
                path + " belongs to " + shm::DescribeUser(owner) + ", not to " +
                    shm::DescribeUser(me) +
                    ": refusing to create or change limiters in a segment another user "
                    "controls. If namespace '" +
                    n + "' should not be theirs, remove it (sluicectl rm -n " + n +
                    ", as that user or as root) and apply again");
}

Status ValidateHeader(const Header& h, uint64_t file_size, std::string_view path) {
  const std::string p(path);
  const uint64_t magic = h.magic.load(std::memory_order_acquire);
  if (magic != kMagic) {
    return Status(Code::kCorrupt, p + ": not a sluice segment (bad magic)");
  }
  if (h.layout_version != kLayoutVersion) {
    return Status(Code::kVersion,
                  p + ": segment layout version " + std::to_string(h.layout_version) +
                      ", this library reads version " + std::to_string(kLayoutVersion));
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
                                      " bytes, header says " + std::to_string(h.total_size) +
                                      " (truncated?)");
  }
  return Status::OK();
}

StatusOr<std::shared_ptr<Mapping>> Mapping::Open(std::string_view ns, const OpenOptions& o) {
  if (Status s = ValidateName(ns, "namespace"); !s.ok()) return s;
  const std::string path = Segment::PathFor(ns);
  const bool creating = o.create && !o.read_only;
  if (creating) {
    if (o.capacity == 0 || o.capacity > kMaxCapacity) {
      return Status(Code::kInvalidArgument, "capacity must be 1.." + std::to_string(kMaxCapacity));
    }
    if (o.arena_bytes < 4096 || o.arena_bytes > kMaxArenaBytes) {
      return Status(Code::kInvalidArgument, "arena_bytes must be 4096..2^32");
    }
    if (o.mode > 0777)
      return Status(Code::kInvalidArgument, "mode must be an octal permission like 0660");
    if ((o.mode & 0002) != 0 && !o.allow_world_writable) {
      return Status(Code::kInvalidArgument, WorldWritableMessage(o.mode));
    }
  }
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    StatusOr<shm::Fd> fd = shm::OpenExisting(path, !o.read_only);
    if (!fd.ok()) {
      if (fd.status().code() != Code::kNotFound) return fd.status();
      if (!creating) return NotFound(ns, path);
      Status s = CreateSegment(path, o, /*replace=*/false);
      if (!s.ok() && s.code() != Code::kExists) return s;
      continue;  // attach what is there now: ours, or the creator that won
    }
    StatusOr<shm::FileInfo> info = shm::Stat(fd->get(), path);
    if (!info.ok()) return info.status();
    if (creating) {
      if (Status s = CheckOwner(info->uid, path, ns); !s.ok()) return s;
    }
    if (shm::ReadMagic(fd->get()) == 0) {
      if (creating) {
        if (Status s = Repair(path, fd->get(), *info, o); !s.ok()) return s;
        continue;
      }
      // Only a file that is not initialised is ever waited for: an older
      // library's creator may be initialising it under its flock.
      if (!shm::LockWithin(fd->get(), LOCK_SH, kLockWaitNs)) {
        return errno == EWOULDBLOCK ? LockTimeout(path)
                                    : Status(Code::kIo, path + ": flock: " + std::strerror(errno));
      }
      flock(fd->get(), LOCK_UN);
      if (!shm::StillAt(path, *info)) continue;  // replaced by a repair
      if (shm::ReadMagic(fd->get()) == 0) {
        return Status(Code::kCorrupt, path +
                                          ": segment was never initialised (creator died?); "
                                          "open it with create to initialise it");
      }
      info = shm::Stat(fd->get(), path);  // initialised in place: its size now
      if (!info.ok()) return info.status();
    }
    return Attach(ns, path, std::move(*fd), *info, o.read_only);
  }
  return Status(Code::kIo, path +
                               " kept changing while it was opened (created and removed "
                               "over and over?); try again");
}

StatusOr<std::shared_ptr<Mapping>> Mapping::Attach(std::string_view ns, const std::string& path,
                                                   shm::Fd fd, const shm::FileInfo& info,
                                                   bool read_only) {
  const uint64_t size = info.size;
  if (size < sizeof(Header)) {
    return Status(Code::kCorrupt,
                  path + ": truncated (" + std::to_string(size) + " bytes, smaller than a header)");
  }
  std::shared_ptr<Mapping> m(new Mapping());
  m->impl_ = std::make_unique<Impl>();
  m->ns_ = std::string(ns);
  m->read_only_ = read_only;
  m->owner_uid_ = info.uid;
  Status ms;
  m->base_ = shm::Map(fd.get(), size, !read_only, path, &ms);
  if (m->base_ == nullptr) return ms;
  m->impl_->fd = std::move(fd);
  m->size_ = size;
  m->header_ = reinterpret_cast<Header*>(m->base_);
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
  if (!read_only) {
    // Segments this library creates are reserved whole; one made by an
    // older library may be sparse: reserve the header and slots (every
    // decision writes there) before any store can fault on a full tmpfs.
    if (Status s = shm::Reserve(m->impl_->fd.get(), 0, m->arena_offset_, path); !s.ok()) return s;
  }
  return m;
}

Mapping::~Mapping() { shm::Unmap(base_, size_); }

SlotLayout* Mapping::slot(uint32_t i) const {
  return reinterpret_cast<SlotLayout*>(base_ + slots_offset_ + uint64_t{i} * sizeof(SlotLayout));
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
    if (header_->arena_used.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) {
      // Already reserved in segments this library creates (cheap); an older
      // library's sparse segment gets the pages now, or a clear kFull
      // instead of SIGBUS at the first store.
      const uint64_t off = arena_offset_ + used;
      if (Status s = shm::Reserve(impl_->fd.get(), off, bytes, Segment::PathFor(ns_)); !s.ok()) {
        return s;
      }
      return off;
    }
  }
}

}  // namespace sluice
