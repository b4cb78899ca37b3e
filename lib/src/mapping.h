// Mapping: an attached segment (the file /dev/shm/sluice.<ns>, kept open,
// and its mmap) with bounds-checked access to its slots and arena.
// Thread-safe: only the arena bump pointer changes, by CAS.
#ifndef SLUICE_SRC_MAPPING_H_
#define SLUICE_SRC_MAPPING_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "layout.h"
#include "shm_file.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice {

class Mapping {
 public:
  // Creates (options.create) or attaches to namespace `ns`; validates the
  // header. Race-free without locks: a creator builds the whole segment in
  // an unnamed file and links it into place, so the path only ever shows a
  // complete segment. Only a never-initialised file (a creator of an older
  // library, or one that died) is waited for (flock, at most 5 s), and
  // with options.create replaced. options.create also requires the file to
  // belong to the caller (CheckOwner); a plain attach does not.
  static StatusOr<std::shared_ptr<Mapping>> Open(std::string_view ns, const OpenOptions& options);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  const std::string& ns() const { return ns_; }
  bool read_only() const { return read_only_; }
  // Owner of the segment file when it was opened.
  uid_t owner_uid() const { return owner_uid_; }
  Header* header() const { return header_; }
  // Header fields validated at attach, copied: a later write to the shared
  // header cannot move slots or the arena under us.
  uint32_t capacity() const { return capacity_; }
  uint64_t arena_offset() const { return arena_offset_; }
  uint64_t arena_size() const { return arena_size_; }
  uint64_t size() const { return size_; }
  // REQUIRES: i < capacity().
  SlotLayout* slot(uint32_t i) const;

  // Pointer to `count` objects of T at segment offset `off`, or nullptr when
  // that range is not inside the arena or is misaligned.
  template <typename T>
  T* ArenaAt(uint64_t off, uint64_t count) const {
    if (off % alignof(T) != 0 || off < arena_offset_ || off > size_) return nullptr;
    if (count > (size_ - off) / sizeof(T)) return nullptr;
    return reinterpret_cast<T*>(base_ + off);
  }
  // Allocates `bytes` (64-byte aligned) from the arena; kFull when it is
  // exhausted. Never freed (a crashed allocator leaks, harmlessly).
  StatusOr<uint64_t> Allocate(uint64_t bytes);

 private:
  Mapping() = default;
  // Maps an open, initialised file (`info`: its fstat) and validates it.
  static StatusOr<std::shared_ptr<Mapping>> Attach(std::string_view ns, const std::string& path,
                                                   shm::Fd fd, const shm::FileInfo& info,
                                                   bool read_only);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string ns_;
  bool read_only_ = false;
  uid_t owner_uid_ = 0;
  char* base_ = nullptr;
  uint64_t size_ = 0;
  Header* header_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t slots_offset_ = 0;
  uint64_t arena_offset_ = 0;
  uint64_t arena_size_ = 0;
};

// OK when `owner` is the calling process's effective uid; otherwise
// kPermission saying whose segment `path` is and how to take it back.
// Creating or applying (writing as an admin) into a segment another user
// controls would let that user change or retire the caller's limiters.
Status CheckOwner(uid_t owner, const std::string& path, std::string_view ns);

// Checks a mapped header against the file size; a clear error for
// foreign, truncated, other-version or inconsistent segments.
Status ValidateHeader(const Header& h, uint64_t file_size, std::string_view path);

}  // namespace sluice

#endif  // SLUICE_SRC_MAPPING_H_
