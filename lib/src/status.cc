#include "sluice/status.h"

namespace sluice {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kNotFound:
      return "NotFound";
    case Code::kExists:
      return "Exists";
    case Code::kCorrupt:
      return "Corrupt";
    case Code::kVersion:
      return "Version";
    case Code::kFull:
      return "Full";
    case Code::kIo:
      return "IO";
    case Code::kTimeout:
      return "Timeout";
    case Code::kPermission:
      return "Permission";
    case Code::kCancelled:
      return "Cancelled";
    case Code::kNotHeld:
      return "NotHeld";
    case Code::kNoMemory:
      return "NoMemory";
    case Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace sluice
