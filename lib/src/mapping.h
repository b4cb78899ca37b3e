// Mapping: an attached segment (Boost.Interprocess shared_memory_object +
// mapped_region) with bounds-checked access to its slots and arena.
// Thread-safe: only the arena bump pointer changes, by CAS.
#ifndef SLUICE_SRC_MAPPING_H_
#define SLUICE_SRC_MAPPING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "layout.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice {

class Mapping {
 public:
  // Creates (options.create) or attaches to namespace `ns`; race-free (flock
  // around initialisation, magic published last); validates the header.
  static StatusOr<std::shared_ptr<Mapping>> Open(std::string_view ns,
                                                 const OpenOptions& options);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  const std::string& ns() const { return ns_; }
  bool read_only() const { return read_only_; }
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
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string ns_;
  bool read_only_ = false;
  char* base_ = nullptr;
  uint64_t size_ = 0;
  Header* header_ = nullptr;
  uint32_t capacity_ = 0;
  uint64_t slots_offset_ = 0;
  uint64_t arena_offset_ = 0;
  uint64_t arena_size_ = 0;
};

// Checks a mapped header against the file size; a clear error for
// foreign, truncated, other-version or inconsistent segments.
Status ValidateHeader(const Header& h, uint64_t file_size, std::string_view path);

}  // namespace sluice

#endif  // SLUICE_SRC_MAPPING_H_
