// Three processes hold a lease for a command:
//
//   sluicectl (the front)   acquires the lease, waits for the guard, passes
//     |                     SIGTERM/SIGHUP on, returns CMD's exit status
//   guard (fork of it)      the lease's holder: renews it (so the lease
//     |                     records the guard's pid for reclaim), is a child
//     |                     subreaper, and lives until every process under it
//     |                     is gone; then releases the lease
//   CMD (+ its children)    runs with PR_SET_PDEATHSIG = SIGKILL on the guard
//
// Invariants:
//  1. The process recorded as the lease's owner (what reclaim = true checks)
//     is the guard from its first renewal on (before CMD exists), and the
//     front again only after the guard died (3). The guard is a child
//     subreaper: a process CMD started stays its descendant when its own
//     parent exits, so "no children left" (waitpid: ECHILD) means the whole
//     tree has exited. Only then does the guard release and exit.
//  2. The front dying (kill -9) sends the guard SIGUSR2 (PR_SET_PDEATHSIG):
//     the guard SIGKILLs every process under it, renewing the lease until
//     they are gone, then releases it.
//  3. The guard dying kills CMD (its PR_SET_PDEATHSIG) and hands CMD's
//     other processes to the front (also a subreaper). The front sees the
//     guard's exit with WNOWAIT, so the guard's pid stays taken (its zombie)
//     while the front renews the lease as its own (the guard publishes each
//     renewal in shared memory); only then does it reap anything, and it
//     SIGKILLs what is left before releasing.
//  4. A renewal that fails (the holder was stopped or suspended past ttl)
//     means another process may hold the lease now: every process under the
//     holder is SIGKILLed at once.
#include "lease_holder.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <set>

#include "commands.h"
#include "sluice/duration.h"

namespace sluicectl {
namespace {

constexpr int kFrontDied = SIGUSR2;  // the guard's PR_SET_PDEATHSIG

// Shared by the front and the guard (MAP_SHARED anonymous page).
struct Shared {
  std::atomic<int64_t> expires_ns{0};  // the lease's expiry as last renewed
  std::atomic<int32_t> cmd{0};         // CMD's pid, once started
};
static_assert(std::atomic<int64_t>::is_always_lock_free);

// The children of this process, zombies included. Reads
// /proc/self/task/TID/children (this process is single-threaded), or scans
// /proc/*/stat where that file is missing. Empty if /proc cannot tell.
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  const pid_t self = getpid();
  const std::string path = "/proc/self/task/" + std::to_string(self) + "/children";
  if (FILE* f = std::fopen(path.c_str(), "re")) {
    long pid = 0;
    while (std::fscanf(f, "%ld", &pid) == 1) out.push_back(static_cast<pid_t>(pid));
    std::fclose(f);
    return out;
  }
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const std::string stat = "/proc/" + std::string(e->d_name) + "/stat";
    FILE* f = std::fopen(stat.c_str(), "re");
    if (!f) continue;
    char buf[512];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char* paren = std::strrchr(buf, ')');  // comm may contain spaces and ')'
    char state = 0;
    long ppid = 0;
    if (paren && std::sscanf(paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == self)
      out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

// Sends `sig` to every child of this process, and to `known` (> 0) too, in
// case /proc could not list it.
void SignalChildren(int sig, pid_t known) {
  if (known > 0) kill(known, sig);
  for (pid_t c : Children())
    if (c != known) kill(c, sig);
}

// One holder of the lease: renews it and waits until this process has no
// children left. Not thread-safe.
struct Holder {
  sluice::Limiter* lim = nullptr;
  sluice::Lease lease;
  bool renew = true;         // renew every ttl/3 (false: --no-renew, or lost)
  bool warn_on_loss = true;  // false with --no-renew: lapsing is what was asked
  bool kill_all = false;     // SIGKILL every child (invariants 2-4)
  Shared* shared = nullptr;  // guard: publishes each renewal
  pid_t cmd = -1;            // CMD's pid, whose wait status to keep
  bool cmd_is_child = true;  // false: it may have been reaped (pid reused)
  int cmd_status = -1;       // its wait status once reaped
  pid_t front = -1;          // guard: the front (its parent) while it lives
  int pending_term = 0;      // SIGTERM/SIGHUP received: for leftovers too
  std::set<pid_t> termed;    // leftovers already sent pending_term

  // Renews the lease; on failure kills everything under this process.
  bool Renew() {
    const sluice::Status s = lim->RenewLease(&lease);
    if (s.ok()) {
      if (shared) shared->expires_ns.store(lease.expires_ns, std::memory_order_relaxed);
      return true;
    }
    if (warn_on_loss) {
      std::fprintf(stderr, "sluicectl: lease %llu on '%s' was lost (%s)%s\n",
                   static_cast<unsigned long long>(lease.token), lim->name().c_str(),
                   s.message().c_str(), cmd > 0 ? ": killing CMD" : "");
    }
    renew = false;
    kill_all = true;
    return false;
  }

  // Waits until this process has no children left (by invariant 1, until the
  // whole tree under it has exited), renewing the lease every ttl/3, then
  // releases it. SIGTERM and SIGHUP go to CMD while it runs, and to every
  // other process under this one once CMD has exited. REQUIRES: the signals
  // in `set` are blocked.
  void Supervise(const sigset_t& set) {
    const int64_t every = std::max<int64_t>(lim->spec().ttl_ns / 3, sluice::kNanosPerMilli);
    int64_t next_renew = sluice::MonotonicNowNs() + every;
    for (;;) {
      int status = 0;
      pid_t r;
      while ((r = waitpid(-1, &status, WNOHANG)) > 0)
        if (r == cmd) cmd_status = status;
      if (r < 0 && errno == ECHILD) break;
      const bool cmd_running = cmd > 0 && cmd_is_child && cmd_status == -1;
      if (kill_all) {
        SignalChildren(SIGKILL, cmd_running ? cmd : -1);
      } else if (pending_term != 0 && !cmd_running) {
        for (pid_t c : Children())
          if (termed.insert(c).second) kill(c, pending_term);
      }
      int64_t wait_ns = kill_all ? 20 * sluice::kNanosPerMilli : sluice::kNanosPerSecond;
      if (renew) wait_ns = std::clamp<int64_t>(next_renew - sluice::MonotonicNowNs(), 0, wait_ns);
      const timespec ts{static_cast<time_t>(wait_ns / sluice::kNanosPerSecond),
                        static_cast<long>(wait_ns % sluice::kNanosPerSecond)};
      const int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig == SIGTERM || sig == SIGHUP) {
        pending_term = sig;  // SIGINT/QUIT: the tty sent them to the whole job
        if (cmd_running) kill(cmd, sig);
      }
      if (sig == kFrontDied && front > 0 && getppid() != front) kill_all = true;
      if (renew && sluice::MonotonicNowNs() >= next_renew) {
        Renew();
        next_renew = sluice::MonotonicNowNs() + every;
      }
    }
    lim->ReleaseLease(lease);  // kNotHeld if it lapsed: nothing to give back
  }
};

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

// The guard: takes the lease over, runs CMD under it, writes CMD's exit code
// to status_fd and exits. Never returns.
[[noreturn]] void Guard(Holder h, const sigset_t& set, const sigset_t& cmd_mask,
                        const std::vector<std::string>& cmd, int status_fd) {
  sigset_t guard_set = set;
  sigaddset(&guard_set, kFrontDied);
  sigaddset(&guard_set, SIGPIPE);  // the front may be gone when the status is written
  sigprocmask(SIG_BLOCK, &guard_set, nullptr);
  prctl(PR_SET_PDEATHSIG, kFrontDied);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int code = 127;
  if (getppid() != h.front) {
    h.kill_all = true;  // the front died before PR_SET_PDEATHSIG: start nothing
  } else if (!h.Renew()) {
    code = kNotGranted;  // Renew said so on stderr
  } else {
    const pid_t guard = getpid();
    const std::string token = std::to_string(h.lease.token);
    const pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "sluicectl: fork: %s\n", std::strerror(errno));
    } else if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != guard) _exit(127);  // the guard died before prctl
      sigprocmask(SIG_SETMASK, &cmd_mask, nullptr);
      setenv("SLUICE_LEASE_TOKEN", token.c_str(), 1);
      std::vector<char*> argv;
      for (const std::string& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "sluicectl: cannot run '%s': %s\n", argv[0], std::strerror(errno));
      _exit(127);
    } else {
      h.cmd = pid;
      h.shared->cmd.store(pid, std::memory_order_relaxed);
    }
  }
  h.Supervise(guard_set);
  if (h.cmd_status != -1) code = ExitCode(h.cmd_status);
  if (write(status_fd, &code, sizeof code) != static_cast<ssize_t>(sizeof code)) _exit(127);
  _exit(0);
}

}  // namespace

int RunHolding(sluice::Limiter& lim, sluice::Lease lease, const std::vector<std::string>& cmd,
               bool no_renew) {
  sigset_t set, old;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &old);
  prctl(PR_SET_CHILD_SUBREAPER, 1);  // invariant 3

  void* page =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int fds[2];
  if (page == MAP_FAILED || pipe2(fds, O_CLOEXEC) != 0) {
    Fail(std::string("cannot set up the guard process: ") + std::strerror(errno));
    lim.ReleaseLease(lease);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return 127;
  }
  Shared* shared = new (page) Shared;
  shared->expires_ns.store(lease.expires_ns, std::memory_order_relaxed);

  Holder h;
  h.lim = &lim;
  h.lease = lease;
  h.renew = !no_renew;
  h.warn_on_loss = !no_renew;
  h.shared = shared;
  h.front = getpid();
  const pid_t guard = fork();
  if (guard == 0) {
    close(fds[0]);
    Guard(std::move(h), set, old, cmd, fds[1]);
  }
  close(fds[1]);
  int code = 127;
  if (guard < 0) {
    Fail(std::string("fork: ") + std::strerror(errno));
    lim.ReleaseLease(lease);
  } else {
    // Wait for the guard without reaping it: its pid names the lease's holder.
    siginfo_t info;
    for (;;) {
      info.si_pid = 0;
      if (waitid(P_PID, guard, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == guard)
        break;
      const timespec ts{1, 0};
      const int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig == SIGTERM || sig == SIGHUP) kill(guard, sig);
    }
    if (read(fds[0], &code, sizeof code) == static_cast<ssize_t>(sizeof code)) {
      waitpid(guard, nullptr, 0);  // it released the lease
    } else {
      // Invariant 3: the guard was killed. Hold the lease as its renewer did
      // (this process becomes the holder), then end what is left of CMD.
      std::fprintf(stderr, "sluicectl: the guard process of lease %llu was killed: killing CMD\n",
                   static_cast<unsigned long long>(lease.token));
      h.lease.expires_ns = shared->expires_ns.load(std::memory_order_relaxed);
      h.shared = nullptr;
      h.front = -1;
      h.cmd = shared->cmd.load(std::memory_order_relaxed);
      if (h.cmd == 0) h.cmd = -1;
      h.cmd_is_child = false;  // the guard may have reaped it: never signal it by pid
      h.Renew();               // also with --no-renew: ownership, not time
      h.renew = !no_renew && !h.kill_all;
      h.kill_all = true;
      h.Supervise(set);  // reaps the guard too
      code = h.cmd_status != -1 ? ExitCode(h.cmd_status) : 128 + SIGKILL;
    }
  }
  close(fds[0]);
  munmap(page, sizeof(Shared));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace sluicectl
