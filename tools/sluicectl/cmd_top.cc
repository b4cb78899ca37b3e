// top: a live full-screen view (ANSI escapes, raw tty via termios; works
// over ssh). Reads the segment read-only; never blocks its users.
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "commands.h"
#include "inspect_format.h"
#include "sluice/duration.h"
#include "top_view.h"

namespace sluicectl {
namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// Raw, no-echo terminal on the alternate screen; restored on destruction.
class RawTerminal {
 public:
  bool Enter() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return false;
    termios raw = saved_;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) return false;
    active_ = true;
    Write("\x1b[?1049h\x1b[?25l\x1b[2J");
    return true;
  }
  ~RawTerminal() {
    if (!active_) return;
    Write("\x1b[?25h\x1b[?1049l");
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  static void Write(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = write(STDOUT_FILENO, s.data() + off, s.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

 private:
  termios saved_{};
  bool active_ = false;
};

bool Utf8Locale() {
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      std::string s(v);
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s.find("utf-8") != std::string::npos || s.find("utf8") != std::string::npos;
    }
  }
  return false;
}

std::string Clock() {
  const time_t t = time(nullptr);
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

}  // namespace

void AddTop(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    std::string interval = "250ms";
    bool ascii = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb =
      app.add_subcommand("top", "live view: rates, utilisation, denials, waiters, last minute");
  AddNamespaceOption(verb, &o->ns);
  verb->add_option("-i,--interval", o->interval, "refresh interval")->capture_default_str();
  verb->add_flag("--ascii", o->ascii, "ASCII sparklines (default: UTF-8 blocks in a UTF-8 locale)");
  verb->footer(
      "Keys: q quits. Needs a terminal (works over ssh); fits 80x24.\n"
      "Examples:\n"
      "  sluicectl top\n"
      "  sluicectl top -n web -i 100ms");
  verb->callback([o, exit_code] {
    int64_t interval = 0;
    std::string err;
    if (!ParseDurationArg(o->interval, false, &interval, &err) ||
        interval < sluice::kNanosPerMilli * 10) {
      *exit_code = Fail("--interval: " + (err.empty() ? "must be at least 10ms" : err));
      return;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
      *exit_code = Fail("top needs a terminal (use 'sluicectl ls' in scripts)");
      return;
    }
    sluice::StatusOr<sluice::Inspector> in = sluice::Inspector::Open(o->ns);
    if (!in.ok()) {
      *exit_code = Fail(in.status());
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    RawTerminal term;
    if (!term.Enter()) {
      *exit_code = Fail(std::string("cannot set up the terminal: ") + std::strerror(errno));
      return;
    }
    sluice::RateTracker rates;
    sluice::TopOptions topt;
    topt.ascii = o->ascii || !Utf8Locale();
    topt.refresh_ns = interval;
    while (!g_stop) {
      winsize ws{};
      if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        topt.width = ws.ws_col;
        topt.height = ws.ws_row;
      }
      const sluice::Snapshot snap = in->Take();
      rates.Add(snap);
      topt.clock = Clock();
      std::string frame = "\x1b[H";
      const std::vector<std::string> lines = sluice::RenderTop(snap, rates, topt);
      for (size_t i = 0; i < lines.size(); ++i) {
        frame += lines[i] + "\x1b[K";
        if (i + 1 < lines.size()) frame += "\r\n";
      }
      RawTerminal::Write(frame);
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(interval / sluice::kNanosPerMilli)) > 0) {
        char buf[64];
        const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0) break;  // terminal closed
        for (ssize_t i = 0; i < n; ++i) {
          if (buf[i] == 'q' || buf[i] == 'Q') g_stop = 1;
        }
      }
    }
    *exit_code = kOk;
  });
}

}  // namespace sluicectl
