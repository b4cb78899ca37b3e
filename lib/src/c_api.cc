// The C API over the C++ one: handles own C++ objects; errors become
// negative SLUICE_E* codes plus a thread-local message. No C++ exception
// crosses the C ABI: every entry point runs inside Guarded().
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "sluice/sluice.h"

struct sluice_limiter {
  sluice::Limiter limiter;
};

struct sluice_segment {
  sluice::Segment segment;
  std::mutex mu;  // guards limiters
  std::vector<std::unique_ptr<sluice_limiter>> limiters;
};

namespace {

thread_local std::string t_last_error;

// Sets this thread's message to "CODE: message", in place: its buffer is
// reused, so an error that is an expected outcome (a lease try that finds
// every holder taken) allocates nothing here once the buffer has grown. An
// embedded NUL would cut the message for a C reader: it is escaped.
void SetError(std::string_view code, std::string_view m) {
  std::string& out = t_last_error;
  out.assign(code);
  out += ": ";
  for (size_t nul = m.find('\0'); nul != std::string_view::npos; nul = m.find('\0')) {
    out.append(m.substr(0, nul));
    out += "\\x00";
    m.remove_prefix(nul + 1);
  }
  out.append(m);
}

int Fail(const sluice::Status& s) {
  SetError(sluice::CodeName(s.code()), s.message());
  return -static_cast<int>(s.code());
}

// Runs an entry point's body; maps any exception to an error code.
template <typename F>
int Guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    // Must not allocate: 13 characters fit any std::string's own buffer.
    t_last_error = "out of memory";
    return SLUICE_ENOMEM;
  } catch (const std::exception& e) {
    try {
      SetError("Internal", e.what());
    } catch (...) {
      t_last_error.clear();
    }
    return SLUICE_EINTERNAL;
  } catch (...) {
    t_last_error.clear();
    return SLUICE_EINTERNAL;
  }
}

int Invalid(const char* what) {
  SetError("InvalidArgument", what);
  return SLUICE_EINVAL;
}

int Hand(sluice_segment* seg, sluice::StatusOr<sluice::Limiter> l, sluice_limiter** out) {
  if (!l.ok()) return Fail(l.status());
  auto h = std::make_unique<sluice_limiter>();
  h->limiter = std::move(*l);
  std::lock_guard<std::mutex> lock(seg->mu);
  *out = h.get();
  seg->limiters.push_back(std::move(h));
  return SLUICE_OK;
}

void ToC(const sluice::Lease& l, sluice_lease* out) {
  out->token = l.token;
  out->granted_ns = l.granted_ns;
  out->expires_ns = l.expires_ns;
  out->index = l.index;
  out->reserved = 0;
}

sluice::Lease FromC(const sluice_lease* l) {
  return sluice::Lease{l->token, l->granted_ns, l->expires_ns, l->index};
}

}  // namespace

extern "C" {

int sluice_open(const char* ns, int flags, sluice_segment** out) {
  return Guarded([&]() -> int {
    if (!out) return Invalid("out is NULL");
    *out = nullptr;
    if (flags & ~(SLUICE_CREATE | SLUICE_READONLY)) return Invalid("unknown flags");
    sluice::OpenOptions o;
    o.create = flags & SLUICE_CREATE;
    o.read_only = flags & SLUICE_READONLY;
    const std::string name = ns ? std::string(ns) : sluice::Segment::DefaultNamespace();
    sluice::StatusOr<sluice::Segment> s = sluice::Segment::Open(name, o);
    if (!s.ok()) return Fail(s.status());
    *out = new sluice_segment{std::move(*s), {}, {}};
    return SLUICE_OK;
  });
}

void sluice_close(sluice_segment* seg) { delete seg; }  // destructors do not throw

int sluice_define(sluice_segment* seg, const char* name, const char* spec, sluice_limiter** out) {
  return Guarded([&]() -> int {
    if (!seg || !name || !spec || !out) return Invalid("NULL argument");
    sluice::StatusOr<sluice::LimiterSpec> parsed = sluice::ParseSpec(spec, "spec");
    if (!parsed.ok()) return Fail(parsed.status());
    return Hand(seg, seg->segment.Define(name, *parsed), out);
  });
}

int sluice_find(sluice_segment* seg, const char* name, sluice_limiter** out) {
  return Guarded([&]() -> int {
    if (!seg || !name || !out) return Invalid("NULL argument");
    return Hand(seg, seg->segment.Find(name), out);
  });
}

int sluice_try_acquire(sluice_limiter* l, uint32_t permits, int64_t* retry_after_ns) {
  return Guarded([&]() -> int {
    if (!l || permits == 0) return Invalid("NULL limiter or zero permits");
    const sluice::Decision d = l->limiter.TryAcquire(permits);
    if (retry_after_ns) *retry_after_ns = d.retry_after_ns;
    if (d.denial == sluice::Denial::kReadOnly) {
      return Fail(sluice::Status(sluice::Code::kPermission, "segment is mapped read-only"));
    }
    return d.granted ? 1 : 0;
  });
}

int sluice_acquire(sluice_limiter* l, uint32_t permits, int64_t timeout_ns) {
  return Guarded([&]() -> int {
    if (!l || permits == 0) return Invalid("NULL limiter or zero permits");
    const sluice::Status s = l->limiter.Acquire(permits, timeout_ns);
    return s.ok() ? 1 : Fail(s);
  });
}

int sluice_lease_acquire(sluice_limiter* l, int64_t timeout_ns, sluice_lease* out) {
  return Guarded([&]() -> int {
    if (!l || !out) return Invalid("NULL argument");
    sluice::StatusOr<sluice::Lease> r = l->limiter.AcquireLease(timeout_ns);
    if (!r.ok()) return Fail(r.status());
    ToC(*r, out);
    return 1;
  });
}

int sluice_lease_release(sluice_limiter* l, const sluice_lease* lease) {
  return Guarded([&]() -> int {
    if (!l || !lease) return Invalid("NULL argument");
    const sluice::Status s = l->limiter.ReleaseLease(FromC(lease));
    return s.ok() ? SLUICE_OK : Fail(s);
  });
}

int sluice_lease_renew(sluice_limiter* l, sluice_lease* lease) {
  return Guarded([&]() -> int {
    if (!l || !lease) return Invalid("NULL argument");
    sluice::Lease x = FromC(lease);
    const sluice::Status s = l->limiter.RenewLease(&x);
    if (!s.ok()) return Fail(s);
    ToC(x, lease);
    return SLUICE_OK;
  });
}

const char* sluice_strerror(int code) {
  if (code >= 0) return "success";
  switch (code) {
    case SLUICE_EINVAL:
      return "invalid argument";
    case SLUICE_ENOTFOUND:
      return "not found";
    case SLUICE_EEXIST:
      return "exists with other parameters";
    case SLUICE_ECORRUPT:
      return "segment is corrupt or not a sluice segment";
    case SLUICE_EVERSION:
      return "segment has another layout version";
    case SLUICE_EFULL:
      return "segment is full";
    case SLUICE_EIO:
      return "I/O or system error";
    case SLUICE_ETIMEOUT:
      return "timed out";
    case SLUICE_EPERM:
      return "permission denied";
    case SLUICE_ECANCELLED:
      return "cancelled";
    case SLUICE_ENOTHELD:
      return "lease not held";
    case SLUICE_ENOMEM:
      return "out of memory";
    case SLUICE_EINTERNAL:
      return "internal error";
  }
  return "unknown error";
}

const char* sluice_last_error(void) { return t_last_error.c_str(); }

int64_t sluice_now_ns(void) { return sluice::MonotonicNowNs(); }

}  // extern "C"
