// The OS boundary of a segment file /dev/shm/sluice.<ns> (Linux, tmpfs):
// opening one without following links or blocking, creating one complete
// before any other process can see it, reserving its memory, mapping it.
// mapping.cc holds the protocol on top (who creates, who waits, what is
// valid). Thread-safe: no shared state.
#ifndef SLUICE_SRC_SHM_FILE_H_
#define SLUICE_SRC_SHM_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "sluice/status.h"

namespace sluice::shm {

// An owned file descriptor; closed on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// What fstat says about an open segment file.
struct FileInfo {
  uint64_t size = 0;
  uid_t uid = 0;
  dev_t dev = 0;
  ino_t ino = 0;
};
StatusOr<FileInfo> Stat(int fd, const std::string& path);

// Opens an existing segment file, read-write or read-only. Never follows a
// symbolic link and never blocks (O_NOFOLLOW | O_NONBLOCK): anything but a
// regular file (FIFO, directory, socket, device, link) is kCorrupt, named.
// kNotFound when there is nothing at `path`, kPermission when access is
// denied.
StatusOr<Fd> OpenExisting(const std::string& path, bool writable);

// True when `path` still names the file open as `info` (it was not removed
// or replaced since).
bool StillAt(const std::string& path, const FileInfo& info);

// A file being created for `path`: invisible to other processes (O_TMPFILE,
// or a hidden temporary name where the kernel lacks it) until Publish. If it
// is never published it vanishes with this object, or with the process.
class NewFile {
 public:
  // REQUIRES: mode <= 0777. group == gid_t(-1) keeps the creator's group.
  static StatusOr<NewFile> Create(const std::string& path, uint32_t mode, gid_t group);
  NewFile(NewFile&&) = default;
  NewFile& operator=(NewFile&&) = delete;
  ~NewFile();
  int fd() const { return fd_.get(); }
  // Links the file at `path`, atomically; kExists if something is there
  // (another creator won: use that one).
  Status Publish();
  // Atomically replaces whatever is at `path` with this file (rename(2)).
  Status PublishReplacing();

 private:
  NewFile(std::string path, Fd fd, std::string temp)
      : path_(std::move(path)), fd_(std::move(fd)), temp_(std::move(temp)) {}
  Status LinkTemp();  // O_TMPFILE: gives the file a hidden name first
  std::string path_;
  Fd fd_;
  std::string temp_;  // hidden name while one exists; removed on destruction
};

// Sizes the file to `size` bytes and reserves every page of it now
// (posix_fallocate), so no later store into the mapping can hit SIGBUS on
// a full tmpfs. kFull, saying how much is needed and how much is free, when
// the file system cannot hold it.
Status Reserve(int fd, uint64_t offset, uint64_t size, const std::string& path);

// mmap(MAP_SHARED) of the first `size` bytes; nullptr and *status on error.
char* Map(int fd, uint64_t size, bool writable, const std::string& path, Status* status);
void Unmap(char* base, uint64_t size);

// Reads the file's first 8 bytes (the magic word) without mapping it: a
// file shorter than that reads as 0.
uint64_t ReadMagic(int fd);

// flock(fd, op) retried with LOCK_NB until it is granted or `timeout_ns`
// passes; false on timeout or error (errno set).
bool LockWithin(int fd, int op, int64_t timeout_ns);

// "uid 65534 (nobody)".
std::string DescribeUser(uid_t uid);

// unlink(2) with messages for every outcome: kNotFound, kPermission (with
// the owner), kCorrupt for a directory.
Status Remove(const std::string& path, const std::string& ns);

}  // namespace sluice::shm

#endif  // SLUICE_SRC_SHM_FILE_H_
