// Helpers shared by the libFuzzer targets (tests/fuzz/*_fuzz.cc).
#ifndef SLUICE_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define SLUICE_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sluice/segment.h"

namespace sluice::fuzz {

// A namespace of this process only ("fuzz-<tag>-<pid>"), removed at exit.
// libFuzzer's workers are processes, so they never share one.
inline const std::string& ProcessNamespace(const char* tag) {
  // Never destroyed: the atexit handler below runs after static destructors
  // of objects constructed before it was registered.
  static const std::string* const ns = [tag] {
    auto* n = new std::string("fuzz-" + std::string(tag) + "-" + std::to_string(getpid()));
    Segment::Remove(*n);
    std::atexit([] { Segment::Remove(ProcessNamespace(nullptr)); });
    return n;
  }();
  return *ns;
}

// Reads fuzz input front to back; past the end everything reads as zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  // The rest of the input.
  std::string_view Rest() {
    std::string_view r(reinterpret_cast<const char*>(data_) + pos_, size_ - pos_);
    pos_ = size_;
    return r;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace sluice::fuzz

#endif  // SLUICE_TESTS_FUZZ_FUZZ_SUPPORT_H_
