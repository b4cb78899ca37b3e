#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace sluice::fleet {

StatusOr<std::string> ReadTokenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    return Status(e == ENOENT   ? Code::kNotFound
                  : e == EACCES ? Code::kPermission
                                : Code::kIo,
                  path + ": cannot open token file: " + std::strerror(e));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) return Status(Code::kIo, path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    return Status(Code::kInvalidArgument, path + ": token file is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status(Code::kPermission, path + ": token file is accessible by group or others (mode " +
                                         mode + "); chmod 600 it");
  }
  std::string text(kMaxTokenBytes + 2, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Code::kIo, path + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  const size_t eol = text.find('\n');
  if (eol != std::string::npos) text.resize(eol);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.size() > kMaxTokenBytes) {
    return Status(Code::kInvalidArgument, path + ": token longer than 4096 bytes");
  }
  if (text.empty()) return Status(Code::kInvalidArgument, path + ": token file is empty");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Status(Code::kInvalidArgument, path + ": token holds control characters");
    }
  }
  return text;
}

bool SameToken(std::string_view expected, std::string_view got) {
  // Every byte of both is read whatever the contents; `diff` accumulates
  // without early exit. volatile keeps the compiler from short-circuiting.
  volatile unsigned char diff = expected.size() == got.size() ? 0 : 1;
  const size_t n = std::max(expected.size(), got.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    const unsigned char b = i < got.size() ? static_cast<unsigned char>(got[i]) : 0;
    diff = diff | static_cast<unsigned char>(a ^ b);
  }
  return diff == 0;
}

}  // namespace sluice::fleet
