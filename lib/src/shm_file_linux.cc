#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common.h"
#include "platform.h"
#include "shm_file.h"

namespace sluice::shm {
namespace {

const char* KindOf(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

Status NotRegular(const std::string& path, const char* kind) {
  return Status(Code::kCorrupt, path + " is " + kind +
                                    ", not a sluice segment (a regular file); remove it and "
                                    "apply again");
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// A hidden name beside `path` that no namespace can have (namespaces are
// files named "sluice.*"); unique per process and call.
std::string TempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return DirOf(path) + "/.sluice-new." + base + "." + std::to_string(platform::Pid()) + "." +
         std::to_string(counter.fetch_add(1)) + "." + std::to_string(platform::NowNs() % 1000000);
}

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

StatusOr<FileInfo> Stat(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(path + ": fstat", errno);
  FileInfo info;
  info.size = static_cast<uint64_t>(st.st_size);
  info.uid = st.st_uid;
  info.dev = st.st_dev;
  info.ino = st.st_ino;
  return info;
}

StatusOr<Fd> OpenExisting(const std::string& path, bool writable) {
  // lstat first: a FIFO or device is refused without being opened at all.
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
  if (!S_ISREG(st.st_mode)) return NotRegular(path, KindOf(st.st_mode));
  const int flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  Fd fd(open(path.c_str(), flags));
  if (fd.get() < 0) {
    const int err = errno;
    // Replaced between lstat and open.
    if (err == ELOOP) return NotRegular(path, "a symbolic link");
    if (err == EISDIR) return NotRegular(path, "a directory");
    return ErrnoStatus(path, err);
  }
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(path + ": fstat", errno);
  if (!S_ISREG(st.st_mode)) return NotRegular(path, KindOf(st.st_mode));
  return fd;
}

bool StillAt(const std::string& path, const FileInfo& info) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && st.st_dev == info.dev && st.st_ino == info.ino;
}

StatusOr<NewFile> NewFile::Create(const std::string& path, uint32_t mode, gid_t group) {
  Fd fd(open(DirOf(path).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  std::string temp;
  if (fd.get() >= 0) {
    // Publish links it through /proc/self/fd; without a usable /proc (or
    // with one of another PID namespace) use a named temporary instead.
    struct stat a, b;
    if (fstat(fd.get(), &a) != 0 || stat(ProcFdPath(fd.get()).c_str(), &b) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
      fd = Fd();
    }
  }
  if (fd.get() < 0) {
    temp = TempName(path);
    fd = Fd(open(temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoStatus(DirOf(path) + ": creating " + path, errno);
  }
  NewFile f(path, std::move(fd), std::move(temp));
  // Exact bits (not filtered by the umask), before anyone can open it.
  if (fchmod(f.fd(), mode) != 0) return ErrnoStatus(path + ": fchmod", errno);
  if (group != gid_t(-1) && fchown(f.fd(), uid_t(-1), group) != 0) {
    return ErrnoStatus(path + ": fchown", errno);
  }
  return f;
}

NewFile::~NewFile() {
  if (!temp_.empty()) unlink(temp_.c_str());
}

Status NewFile::LinkTemp() {
  if (!temp_.empty()) return Status::OK();
  const std::string temp = TempName(path_);
  if (linkat(AT_FDCWD, ProcFdPath(fd()).c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    return ErrnoStatus(path_ + ": link", errno);
  }
  temp_ = temp;
  return Status::OK();
}

Status NewFile::Publish() {
  int rc;
  if (temp_.empty()) {
    rc = linkat(AT_FDCWD, ProcFdPath(fd()).c_str(), AT_FDCWD, path_.c_str(), AT_SYMLINK_FOLLOW);
  } else {
    rc = link(temp_.c_str(), path_.c_str());
  }
  if (rc != 0) {
    const int err = errno;
    if (err == EEXIST) return Status(Code::kExists, path_ + " exists");
    return ErrnoStatus(path_ + ": link", err);
  }
  if (!temp_.empty()) {
    unlink(temp_.c_str());
    temp_.clear();
  }
  return Status::OK();
}

Status NewFile::PublishReplacing() {
  if (Status s = LinkTemp(); !s.ok()) return s;
  if (rename(temp_.c_str(), path_.c_str()) != 0) return ErrnoStatus(path_ + ": rename", errno);
  temp_.clear();
  return Status::OK();
}

Status Reserve(int fd, uint64_t offset, uint64_t size, const std::string& path) {
  const int err = posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(size));
  if (err == 0) return Status::OK();
  if (err == ENOSPC || err == ENOMEM || err == EFBIG) {
    const std::string dir = DirOf(path);
    std::string free_text = "unknown";
    struct statvfs vfs;
    if (statvfs(dir.c_str(), &vfs) == 0) {
      free_text = Mib(uint64_t{vfs.f_bavail} * vfs.f_frsize) + " free of " +
                  Mib(uint64_t{vfs.f_blocks} * vfs.f_frsize);
    }
    return Status(Code::kFull, "not enough shared memory for " + path + ": it needs " + Mib(size) +
                                   " (" + std::to_string(size) + " bytes), " + dir + " has " +
                                   free_text + " (" + std::strerror(err) + "); make " + dir +
                                   " larger (docker run --shm-size, or mount -o remount,size=) "
                                   "or the budget smaller");
  }
  return ErrnoStatus(path + ": reserving " + std::to_string(size) + " bytes", err);
}

char* Map(int fd, uint64_t size, bool writable, const std::string& path, Status* status) {
  void* p = mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *status = ErrnoStatus(path + ": mmap", errno);
    return nullptr;
  }
  return static_cast<char*>(p);
}

void Unmap(char* base, uint64_t size) {
  if (base != nullptr) munmap(base, size);
}

uint64_t ReadMagic(int fd) {
  uint64_t v = 0;
  if (pread(fd, &v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) return 0;
  return v;
}

bool LockWithin(int fd, int op, int64_t timeout_ns) {
  const int64_t deadline = platform::NowNs() + timeout_ns;
  for (;;) {
    if (flock(fd, op | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK || platform::NowNs() > deadline) return false;
    timespec ts{0, 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

std::string DescribeUser(uid_t uid) {
  std::string out = "uid " + std::to_string(uid);
  std::vector<char> buf(16384);
  passwd pw;
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    out += std::string(" (") + found->pw_name + ")";
  }
  return out;
}

Status Remove(const std::string& path, const std::string& ns) {
  if (unlink(path.c_str()) == 0) return Status::OK();
  const int err = errno;
  struct stat st;
  const bool exists = lstat(path.c_str(), &st) == 0;
  if (err == ENOENT) {
    return Status(Code::kNotFound, "namespace '" + ns + "' does not exist (" + path + ")");
  }
  if (exists && S_ISDIR(st.st_mode)) {
    return Status(Code::kCorrupt,
                  path + " is a directory, not a sluice segment; remove it with rmdir");
  }
  if (err == EACCES || err == EPERM) {
    return Status(Code::kPermission,
                  "permission denied: cannot remove " + path +
                      (exists ? " (it belongs to " + DescribeUser(st.st_uid) + ")" : "") +
                      "; only its owner or root can remove it from " + DirOf(path));
  }
  return ErrnoStatus(path + ": unlink", err);
}

}  // namespace sluice::shm
