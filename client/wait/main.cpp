// flotilla-agent-wait MILLISECONDS PROGRAM [ARG...]: where `flotilla-agent
// run` spends the time between two polls. The agent execs it (same pid,
// so systemd and signals see one daemon), it sleeps, then execs PROGRAM
// (the agent again) for the next poll. Its only library is libc: the
// agent's libraries (libcurl and its TLS, LDAP and SSH dependencies,
// OpenSSL, SQLite, libarchive, libstdc++) are unmapped at rest, which is
// most of a device's time (docs/agent.md, "Memory at rest").
//
// SIGTERM or SIGINT while waiting: exit 0, as the agent stops between
// steps. Exit 2: usage. Exit 1: PROGRAM cannot be started (systemd's
// Restart= brings the agent back).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <unistd.h>

namespace {

// The agent's poll_max is a duration of any length; over a year is a
// mistake, not a wait.
constexpr unsigned long long kMaxWaitMs = 400ULL * 24 * 3600 * 1000;

extern "C" void on_stop(int) { _exit(0); }

bool parse_ms(const char* text, unsigned long long& ms) {
  if (*text == '\0' || std::strlen(text) > 12) return false;
  ms = 0;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c < '0' || *c > '9') return false;
    ms = ms * 10 + static_cast<unsigned long long>(*c - '0');
  }
  return ms <= kMaxWaitMs;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long long ms = 0;
  if (argc < 3 || !parse_ms(argv[1], ms) || argv[2][0] != '/') {
    std::fprintf(stderr, "usage: flotilla-agent-wait MILLISECONDS /PATH/TO/PROGRAM [ARG...]\n"
                         "  sleeps MILLISECONDS (at most 400 days), then execs PROGRAM; flotilla-agent run uses it\n");
    return 2;
  }
  struct sigaction stop {};
  stop.sa_handler = on_stop;
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);
  // The agent blocked them across its exec so that none is lost: one
  // that came meanwhile is delivered here.
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  sigprocmask(SIG_UNBLOCK, &stops, nullptr);
  // CLOCK_BOOTTIME counts a suspended device's sleep: after a resume the
  // poll that fell due during it goes out at once.
  timespec deadline{};
  clock_gettime(CLOCK_BOOTTIME, &deadline);
  deadline.tv_sec += static_cast<time_t>(ms / 1000);
  deadline.tv_nsec += static_cast<long>(ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
  execv(argv[2], argv + 2);
  std::fprintf(stderr, "flotilla-agent-wait: cannot start %s: %s\n", argv[2], std::strerror(errno));
  return 1;
}
