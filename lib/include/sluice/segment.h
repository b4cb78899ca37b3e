// Segment: one host namespace's shared-memory object /dev/shm/sluice.<ns>,
// holding the named limiters every process on the host shares.
#ifndef SLUICE_SEGMENT_H_
#define SLUICE_SEGMENT_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/export.h"
#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice {

class Mapping;            // internal
struct SegmentInternals;  // internal

struct OpenOptions {
  // Create the segment if it does not exist. An admin's open: refused
  // (kPermission) when the segment exists and belongs to another user.
  bool create = false;
  bool read_only = false;  // map read-only (inspection); Define() fails
  // Used only by the process that creates the segment:
  uint32_t mode = 0600;  // permission bits of /dev/shm/sluice.<ns>
  // A mode with o+w (0666, 0777) is refused unless this is set: any user
  // on the host could then write the segment and deny service.
  bool allow_world_writable = false;
  gid_t group = gid_t(-1);          // owning group; -1 keeps the creator's
  uint32_t capacity = 256;          // limiter slots
  uint64_t arena_bytes = 4u << 20;  // sliding rings, lease holders, params
};

// Summary of the segment header, for inspection.
struct SegmentInfo {
  std::string ns;
  std::string path;  // "/dev/shm/sluice.<ns>"
  uint32_t layout_version = 0;
  uint32_t capacity = 0;
  uint32_t used_slots = 0;
  uint64_t total_bytes = 0;
  uint64_t arena_bytes = 0;
  uint64_t arena_used = 0;
  int64_t created_realtime_ns = 0;
  uint32_t mode = 0;
};

// A handle on an attached segment. Thread-safe; copies share the mapping,
// which stays mapped while any Segment or Limiter copy is alive.
class SLUICE_EXPORT Segment {
 public:
  // Attaches to (or with options.create, creates) namespace `ns`. Safe when
  // any number of processes race to create it; validates the header. Never
  // blocks on an initialised segment; refuses (kCorrupt) anything at the
  // path but a regular file. Creation reserves all of the segment's memory
  // (kFull, saying how much is needed and free, when /dev/shm is too small).
  static StatusOr<Segment> Open(std::string_view ns, const OpenOptions& options = {});
  // The namespace processes use when none is given: $SLUICE_NAMESPACE or
  // "default".
  static std::string DefaultNamespace();
  // Unlinks /dev/shm/sluice.<ns>. Attached processes keep their mapping (and
  // keep sharing it among themselves); new Open() calls see a new segment.
  // kNotFound if absent, kPermission if the caller may not remove it.
  static Status Remove(std::string_view ns);
  // "/dev/shm/sluice.<ns>".
  static std::string PathFor(std::string_view ns);

  // Defines limiter `name`, or returns the existing one. An existing limiter
  // with the same algorithm but other parameters is updated live (state is
  // kept); another algorithm is kExists.
  StatusOr<Limiter> Define(std::string_view name, const LimiterSpec& spec);
  // kNotFound if there is no (live) limiter called `name`.
  StatusOr<Limiter> Find(std::string_view name) const;
  // Every live limiter, in definition order.
  std::vector<Limiter> List() const;
  // Hides limiter `name` from Find/List (its slot and state stay, handles
  // keep working; defining it again brings it back with its state).
  Status Retire(std::string_view name);

  SegmentInfo Info() const;
  const std::string& ns() const;
  bool read_only() const;

 private:
  friend struct SegmentInternals;  // internal: the admin library's access
  explicit Segment(std::shared_ptr<Mapping> m) : m_(std::move(m)) {}
  std::shared_ptr<Mapping> m_;
};

}  // namespace sluice

#endif  // SLUICE_SEGMENT_H_
