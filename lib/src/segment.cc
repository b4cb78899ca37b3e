#include "sluice/segment.h"

#include <cstdlib>

#include "mapping.h"
#include "printable.h"
#include "shm_file.h"
#include "slot_table.h"

namespace sluice {

StatusOr<Segment> Segment::Open(std::string_view ns, const OpenOptions& options) {
  StatusOr<std::shared_ptr<Mapping>> m = Mapping::Open(ns, options);
  if (!m.ok()) return m.status();
  return Segment(std::move(*m));
}

std::string Segment::DefaultNamespace() {
  const char* env = std::getenv("SLUICE_NAMESPACE");
  return (env && *env) ? std::string(env) : std::string("default");
}

std::string Segment::PathFor(std::string_view ns) { return "/dev/shm/sluice." + std::string(ns); }

Status Segment::Remove(std::string_view ns) {
  if (Status s = ValidateName(ns, "namespace"); !s.ok()) return s;
  return shm::Remove(PathFor(ns), std::string(ns));
}

StatusOr<Limiter> Segment::Define(std::string_view name, const LimiterSpec& spec) {
  StatusOr<uint32_t> i = slots::Define(*m_, name, spec);
  if (!i.ok()) return i.status();
  return Limiter::Attach(m_, *i);
}

StatusOr<Limiter> Segment::Find(std::string_view name) const {
  if (HasControlBytes(name)) {  // no limiter has such a name; say so legibly
    return Status(Code::kNotFound, "no limiter '" + Printable(name) + "' in namespace '" +
                                       m_->ns() + "' (names never contain control characters)");
  }
  StatusOr<uint32_t> i = slots::Find(*m_, name);
  if (!i.ok()) return i.status();
  return Limiter::Attach(m_, *i);
}

std::vector<Limiter> Segment::List() const {
  std::vector<Limiter> out;
  for (uint32_t i : slots::List(*m_)) {
    StatusOr<Limiter> l = Limiter::Attach(m_, i);
    if (l.ok()) out.push_back(std::move(*l));  // a corrupt slot is skipped
  }
  return out;
}

Status Segment::Retire(std::string_view name) { return slots::Retire(*m_, name); }

SegmentInfo Segment::Info() const {
  const Header* h = m_->header();
  SegmentInfo info;
  info.ns = m_->ns();
  info.path = PathFor(m_->ns());
  info.layout_version = h->layout_version;
  info.capacity = h->capacity;
  info.used_slots = static_cast<uint32_t>(slots::List(*m_).size());
  info.total_bytes = h->total_size;
  info.arena_bytes = h->arena_size;
  info.arena_used = h->arena_used.load(std::memory_order_relaxed);
  info.created_realtime_ns = h->created_realtime_ns;
  info.mode = h->mode;
  return info;
}

const std::string& Segment::ns() const { return m_->ns(); }
bool Segment::read_only() const { return m_->read_only(); }

}  // namespace sluice
