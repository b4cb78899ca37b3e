// A throwaway etcd for tests on one machine: /usr/bin/etcd on two free
// loopback ports with its data in a directory of the caller's, stopped (and
// the directory left to the caller) on destruction. Not thread-safe.
#ifndef SLUICE_FLEET_LOCAL_LOCAL_ETCD_H_
#define SLUICE_FLEET_LOCAL_LOCAL_ETCD_H_

#include <sys/types.h>

#include <string>

namespace sluice::fleet {

class LocalEtcd {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";
  static bool Available();  // the binary is installed

  // Starts etcd with its data under dir/etcd.data and its log in
  // dir/etcd.log, and waits (up to 20 s) until it answers. ok() says
  // whether it did; error() why not.
  explicit LocalEtcd(const std::string& dir);
  ~LocalEtcd();  // SIGTERM, then waits for it
  LocalEtcd(const LocalEtcd&) = delete;
  LocalEtcd& operator=(const LocalEtcd&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& url() const { return url_; }  // "http://127.0.0.1:PORT"

 private:
  pid_t pid_ = -1;
  std::string url_;
  std::string error_;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_LOCAL_LOCAL_ETCD_H_
