// sluice._sluice: the C++ half of the Python module `sluice`.
//
// Thin bindings over the public C++ API. The Pythonic layer (context
// managers, the decorator, asyncio, argument conversion) lives in
// python/sluice/__init__.py; the exception classes in python/sluice/_errors.py.
//
// Errors: every failed Status is thrown as StatusError and turned into a
// Python exception by one translator, RaiseStatus() below: the only place
// where codes map to exception classes.
//
// Blocking calls release the GIL. While blocked they poll for signals every
// <= 50 ms (the library's CancelCheck period) by briefly taking the GIL and
// calling PyErr_CheckSignals(), so Ctrl-C raises KeyboardInterrupt promptly.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <tuple>

#include "sluice/duration.h"
#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace py = pybind11;

namespace sluice {
namespace {

// A failed Status on its way to Python. Thrown only by Check()/Value().
class StatusError : public std::exception {
 public:
  explicit StatusError(Status s) : status_(std::move(s)) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

void Check(const Status& s) {
  if (!s.ok()) throw StatusError(s);
}

template <typename T>
T Value(StatusOr<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(r).value();
}

// The exception classes of sluice._errors, looked up once at import.
struct ErrorClasses {
  py::object error, timeout, not_found, invalid_argument, not_held;
};
ErrorClasses* g_errors = nullptr;  // leaked on purpose: lives as long as the interpreter

// The one place where a Status becomes a Python exception.
void RaiseStatus(const Status& s) {
  const ErrorClasses& e = *g_errors;
  py::handle cls = e.error;
  switch (s.code()) {
    case Code::kTimeout:
      cls = e.timeout;
      break;
    case Code::kNotFound:
      cls = e.not_found;
      break;
    case Code::kInvalidArgument:
      cls = e.invalid_argument;
      break;
    case Code::kNotHeld:
      cls = e.not_held;
      break;
    default:
      break;
  }
  py::object exc = cls(s.message(), CodeName(s.code()));
  PyErr_SetObject(cls.ptr(), exc.ptr());
}

// Signal polling for blocking calls (runs with the GIL released).
struct SignalPoll {
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
  bool raised = false;

  static bool Fn(void* arg) {
    auto* self = static_cast<SignalPoll*>(arg);
    PyGILState_STATE g = PyGILState_Ensure();
    // Only the main thread runs Python signal handlers; elsewhere this is 0.
    if (PyErr_CheckSignals() != 0) {
      PyErr_Fetch(&self->type, &self->value, &self->traceback);
      self->raised = true;
    }
    PyGILState_Release(g);
    return self->raised;
  }
  CancelCheck check() { return CancelCheck{&SignalPoll::Fn, this}; }
  // With the GIL held: re-raises what a signal handler raised, if anything.
  void Rethrow() {
    if (!raised) return;
    PyErr_Restore(type, value, traceback);
    throw py::error_already_set();
  }
};

Status NeverGranted(Limiter& l, uint32_t permits) {
  const Status s = l.spec().CheckPermits(permits);
  return s.ok() ? Status(Code::kInvalidArgument, "permits exceed the limiter's capacity") : s;
}

void CheckPermits(uint32_t permits) {
  if (permits == 0) throw StatusError(Status(Code::kInvalidArgument, "permits must be >= 1"));
}

// Strips the "define:LINE:COL: " prefix from a spec error: the text was
// generated from keyword arguments, so its position means nothing to the
// caller; the rest is the budget-file message.
Status WithoutPosition(const Status& s, std::string_view source) {
  const std::string& m = s.message();
  if (m.rfind(std::string(source) + ":", 0) != 0) return s;
  size_t at = source.size();
  for (int colons = 0; colons < 2 && at != std::string::npos; ++colons) at = m.find(':', at + 1);
  if (at == std::string::npos || at + 2 > m.size()) return s;
  return Status(s.code(), m.substr(at + 2));
}

py::tuple SpecTuple(const LimiterSpec& s) {
  return py::make_tuple(AlgorithmName(s.algorithm), s.rate, s.period_ns, s.burst, s.limit,
                        s.window_ns, s.holders, s.ttl_ns, s.reclaim, s.global, s.Describe(),
                        s.ToToml());
}

py::tuple LeaseTuple(const Lease& l) {
  return py::make_tuple(l.token, l.granted_ns, l.expires_ns, l.index);
}

void BindSegment(py::module_& m) {
  py::class_<Segment>(m, "Segment", "Handle on the shared-memory segment of one namespace.")
      .def_static(
          "open",
          [](const std::string& ns, bool create, bool read_only, uint32_t mode, uint32_t capacity,
             uint64_t arena_bytes, bool allow_world_writable) {
            OpenOptions o;
            o.create = create;
            o.read_only = read_only;
            o.mode = mode;
            o.allow_world_writable = allow_world_writable;
            o.capacity = capacity;
            o.arena_bytes = arena_bytes;
            return Value(Segment::Open(ns, o));
          },
          py::arg("ns"), py::arg("create"), py::arg("read_only"), py::arg("mode"),
          py::arg("capacity"), py::arg("arena_bytes"), py::arg("allow_world_writable"))
      .def_static("remove", [](const std::string& ns) { Check(Segment::Remove(ns)); })
      .def_static("default_namespace", &Segment::DefaultNamespace)
      .def_static("path_for", [](const std::string& ns) { return Segment::PathFor(ns); })
      .def(
          "define",
          [](Segment& seg, const std::string& name, const std::string& toml) {
            Check(ValidateName(name, "limiter"));
            constexpr std::string_view kSource = "define";
            StatusOr<LimiterSpec> spec = ParseSpec(toml, kSource);
            if (!spec.ok()) Check(WithoutPosition(spec.status(), kSource));
            return Value(seg.Define(name, *spec));
          },
          py::arg("name"), py::arg("toml"))
      .def("find",
           [](const Segment& seg, const std::string& name) { return Value(seg.Find(name)); })
      .def("list", &Segment::List)
      .def("retire", [](Segment& seg, const std::string& name) { Check(seg.Retire(name)); })
      .def_property_readonly("ns", &Segment::ns)
      .def_property_readonly("read_only", &Segment::read_only)
      .def("info", [](const Segment& seg) {
        const SegmentInfo i = seg.Info();
        py::dict d;
        d["namespace"] = i.ns;
        d["path"] = i.path;
        d["layout_version"] = i.layout_version;
        d["capacity"] = i.capacity;
        d["used_slots"] = i.used_slots;
        d["total_bytes"] = i.total_bytes;
        d["arena_bytes"] = i.arena_bytes;
        d["arena_used"] = i.arena_used;
        d["created_realtime_ns"] = i.created_realtime_ns;
        d["mode"] = i.mode;
        return d;
      });
}

// The hot path reads the C++ value of a Limiter instance straight from
// pybind11's instance record (pybind11::detail::instance: with a simple
// layout, one C++ base and the default holder, the value pointer is
// simple_value_holder[0]). That is pybind11 internals, not public API, so
// the assumption is checked at import (CheckFastLayout, against the public
// py::cast) and by tests/python (test_api.py: test_fast_path_layout); if a
// pybind11 upgrade breaks it, g_fast_layout stays false and every call
// takes the general cast: slower, never wrong.
bool g_fast_layout = false;

Limiter* FastValue(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  return inst->simple_layout ? static_cast<Limiter*>(inst->simple_value_holder[0]) : nullptr;
}

Limiter* CastValue(PyObject* self) {
  try {
    return py::cast<Limiter*>(py::handle(self));
  } catch (...) {
    return nullptr;
  }
}

// True when FastValue agrees with py::cast for `obj` (an initialised Limiter).
bool FastLayoutAgrees(py::handle obj) {
  Limiter* general = CastValue(obj.ptr());
  return general != nullptr && FastValue(obj.ptr()) == general;
}

// try_acquire(permits=1) -> bool, the hot path, as a METH_FASTCALL method
// (pybind11's generic dispatcher costs a few hundred ns more per call):
// positional or keyword `permits`, a plain bool back, no allocation.
PyObject* FastTryAcquire(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  PyObject* arg = nargs == 1 ? args[0] : nullptr;
  if (nargs + nkw > 1 || (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0),
                                                                       "permits") != 0)) {
    PyErr_SetString(PyExc_TypeError, "try_acquire() takes one optional argument, permits");
    return nullptr;
  }
  if (nkw == 1) arg = args[0];
  uint32_t permits = 1;
  if (arg != nullptr) {
    if (!PyLong_Check(arg)) {
      PyErr_Format(PyExc_TypeError, "permits must be an int, not %.100s", Py_TYPE(arg)->tp_name);
      return nullptr;
    }
    const long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred()) PyErr_Clear();
    if (v < 1 || v > UINT32_MAX) {
      try {
        RaiseStatus(Status(Code::kInvalidArgument, "permits must be between 1 and 4294967295"));
      } catch (py::error_already_set& e) {
        e.restore();
      }
      return nullptr;
    }
    permits = static_cast<uint32_t>(v);
  }
  Limiter* l = g_fast_layout ? FastValue(self) : nullptr;
  if (l == nullptr) l = CastValue(self);
  if (l == nullptr || !l->valid()) {
    PyErr_SetString(PyExc_TypeError, "try_acquire() on an uninitialised Limiter");
    return nullptr;
  }
  if (l->TryAcquire(permits).granted) Py_RETURN_TRUE;
  Py_RETURN_FALSE;
}

PyMethodDef kTryAcquireDef = {
    "try_acquire", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(FastTryAcquire)),
    METH_FASTCALL | METH_KEYWORDS,
    "try_acquire($self, /, permits=1)\n--\n\n"
    "Takes `permits` now if the limiter allows it; returns True, else False.\n"
    "Never blocks. A request the limiter can never grant (more permits than its\n"
    "capacity) is simply False."};

void BindLimiter(py::module_& m) {
  auto cls = py::class_<Limiter>(m, "Limiter", "Handle on one named limiter (C++ part).");
  cls.def(py::init<const Limiter&>(), py::arg("handle"))
      .def(
          "_try_acquire_ex",
          [](Limiter& l, uint32_t permits) {
            CheckPermits(permits);
            const Decision d = l.TryAcquire(permits);
            if (d.denial == Denial::kNever) Check(NeverGranted(l, permits));
            if (d.denial == Denial::kReadOnly) {
              Check(Status(Code::kPermission, "segment is mapped read-only"));
            }
            return std::make_tuple(d.granted, d.retry_after_ns, d.now_ns);
          },
          py::arg("permits"))
      .def(
          "_acquire",
          [](Limiter& l, uint32_t permits, int64_t timeout_ns) {
            CheckPermits(permits);
            SignalPoll poll;
            Status s;
            {
              py::gil_scoped_release unlocked;
              s = l.Acquire(permits, timeout_ns, poll.check());
            }
            poll.Rethrow();
            Check(s);
          },
          py::arg("permits"), py::arg("timeout_ns"))
      .def(
          "_acquire_lease",
          [](Limiter& l, int64_t timeout_ns) {
            SignalPoll poll;
            StatusOr<Lease> r = Status(Code::kCancelled, "not run");
            {
              py::gil_scoped_release unlocked;
              r = l.AcquireLease(timeout_ns, poll.check());
            }
            poll.Rethrow();
            return LeaseTuple(Value(std::move(r)));
          },
          py::arg("timeout_ns"))
      .def("_try_lease",
           [](Limiter& l) -> py::object {
             // Timeout 0: one try, no sleep, so the GIL stays held.
             StatusOr<Lease> r = l.AcquireLease(0);
             if (!r.ok() && r.status().code() == Code::kTimeout) return py::none();
             return LeaseTuple(Value(std::move(r)));
           })
      .def("_release_lease",
           [](Limiter& l, uint64_t token, int64_t granted_ns, int64_t expires_ns, uint32_t index) {
             Check(l.ReleaseLease(Lease{token, granted_ns, expires_ns, index}));
           })
      .def("_renew_lease",
           [](Limiter& l, uint64_t token, int64_t granted_ns, int64_t expires_ns, uint32_t index) {
             Lease lease{token, granted_ns, expires_ns, index};
             Check(l.RenewLease(&lease));
             return LeaseTuple(lease);
           })
      .def("_spec", [](const Limiter& l) { return SpecTuple(l.spec()); })
      .def("_stats",
           [](Limiter& l) {
             l.FlushStats();  // this handle's batched counters first
             const LimiterStats s = l.stats();
             return py::make_tuple(s.granted, s.denied, s.asked, s.waits, s.wait_ns, s.waiting,
                                   s.demand);
           })
      .def("_level",
           [](const Limiter& l) {
             const LimiterLevel v = l.level();
             return py::make_tuple(v.used, v.capacity, v.next_free_ns);
           })
      .def("_flush_stats", &Limiter::FlushStats)
      .def_property_readonly("name", &Limiter::name, "The limiter's name.");
  auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  py::object fast = py::reinterpret_steal<py::object>(PyDescr_NewMethod(type, &kTryAcquireDef));
  if (!fast) throw py::error_already_set();
  cls.attr("try_acquire") = fast;
  // The fast path's assumption, checked once on a probe instance; tests
  // check it again on instances of the Python subclass.
  g_fast_layout = FastLayoutAgrees(cls(Limiter()));
  m.def("_fast_layout_enabled", [] { return g_fast_layout; });
  m.def("_fast_layout_agrees", [](py::handle obj) { return FastLayoutAgrees(obj); });
}

}  // namespace
}  // namespace sluice

PYBIND11_MODULE(_sluice, m) {
  m.doc() = "C++ bindings of sluice; use the `sluice` package instead.";
  py::module_ errors = py::module_::import("sluice._errors");
  sluice::g_errors = new sluice::ErrorClasses{
      errors.attr("Error"), errors.attr("Timeout"), errors.attr("NotFound"),
      errors.attr("InvalidArgument"), errors.attr("NotHeld")};
  // The library reports errors by Status; anything else that reaches here
  // (an allocation failure, a bug) still arrives as sluice.Error with a
  // code, never as a bare RuntimeError/MemoryError. pybind11's own
  // exceptions (cast errors, error_already_set) keep their meaning.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sluice::StatusError& e) {
      sluice::RaiseStatus(e.status());
    } catch (const py::builtin_exception&) {
      throw;
    } catch (const py::error_already_set&) {
      throw;
    } catch (const std::bad_alloc&) {
      sluice::RaiseStatus(sluice::Status(sluice::Code::kNoMemory, "out of memory"));
    } catch (const std::exception& e) {
      sluice::RaiseStatus(
          sluice::Status(sluice::Code::kInternal, std::string("internal error: ") + e.what()));
    }
  });
  sluice::BindSegment(m);
  sluice::BindLimiter(m);
  m.def("now_ns", &sluice::MonotonicNowNs);
  m.def("format_duration", &sluice::FormatDuration);
  m.attr("MIN_DURATION_NS") = sluice::kMinDurationNs;
  m.attr("MAX_DURATION_NS") = sluice::kMaxDurationNs;
}
