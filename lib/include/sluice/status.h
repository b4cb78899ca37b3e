// Status and StatusOr: the result of sluice's setup paths (open, define, parse).
//
// Modelled on leveldb::Status: an OK status carries no allocation. The hot
// path (TryAcquire) never returns a Status; it returns plain values.
#ifndef SLUICE_STATUS_H_
#define SLUICE_STATUS_H_

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "sluice/export.h"

namespace sluice {

// Error codes. The negated values are the C API's SLUICE_E* codes.
enum class Code : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad name, spec, parameter, permits
  kNotFound = 2,         // segment or limiter does not exist
  kExists = 3,           // conflicting definition (e.g. other algorithm)
  kCorrupt = 4,          // segment fails validation (magic, sizes, indexes)
  kVersion = 5,          // segment of another layout version
  kFull = 6,             // no free limiter slot or arena space
  kIo = 7,               // an OS call failed (errno in the message)
  kTimeout = 8,          // blocking call ran out of time
  kPermission = 9,       // EACCES/EPERM
  kCancelled = 10,       // blocking call aborted by its caller
  kNotHeld = 11,         // lease released twice, expired, or not ours
  kNoMemory = 12,        // out of memory (the C API's catch-all for std::bad_alloc)
  kInternal = 13,        // an unexpected C++ exception, caught at the C API
};

// Result of a setup operation. Thread-compatible value type.
class SLUICE_EXPORT Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: limiter 'x' is not defined in namespace 'y'".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Name of a code, e.g. "InvalidArgument".
SLUICE_EXPORT const char* CodeName(Code code);

// Either a value or a non-OK Status.
template <typename T>
class StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT: implicit
    assert(!std::get<Status>(v_).ok());
  }
  StatusOr(T value) : v_(std::move(value)) {}  // NOLINT: implicit

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace sluice

#endif  // SLUICE_STATUS_H_
