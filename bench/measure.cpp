// bench_measure: runs a command and prints its wall time and peak RSS.
//   bench_measure [--repeat N] [--sample] -- COMMAND [ARGS...]
// Prints "seconds=S rss_mib=M" where S is the fastest of N runs (the least
// disturbed by other load) and M the largest peak RSS seen. With --sample
// also " pss_mib=P anon_mib=A": the largest PSS and anonymous memory read
// from /proc/PID/smaps_rollup every 50 ms while it runs (RSS counts the
// pages of shared libraries a device shares with other processes; PSS
// divides them among their users; the anonymous part is the command's
// own). Exits non-zero if any run fails.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <algorithm>
#include <fstream>
#include <thread>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

// Pss and Anonymous of PID in KiB (0 once it is gone).
std::pair<long, long> sample(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value = 0, pss = 0, anon = 0;
  in.ignore(1 << 10, '\n');  // the "[rollup]" line
  while (in >> key >> value) {
    if (key == "Pss:") pss = value;
    if (key == "Anonymous:") anon = value;
    in.ignore(1 << 10, '\n');
  }
  return {pss, anon};
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  bool sampling = false;
  int first = 1;
  while (first < argc && std::strcmp(argv[first], "--") != 0) {
    if (std::strcmp(argv[first], "--repeat") == 0 && first + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[first + 1]));
      first += 2;
    } else if (std::strcmp(argv[first], "--sample") == 0) {
      sampling = true;
      ++first;
    } else {
      std::fprintf(stderr, "usage: bench_measure [--repeat N] [--sample] -- COMMAND [ARGS...]\n");
      return 2;
    }
  }
  if (first + 1 >= argc) {
    std::fprintf(stderr, "usage: bench_measure [--repeat N] [--sample] -- COMMAND [ARGS...]\n");
    return 2;
  }
  char** command = argv + first + 1;
  double best = 1e300;
  long max_rss_kib = 0, max_pss_kib = 0, max_anon_kib = 0;
  for (int i = 0; i < repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      execvp(command[0], command);
      std::perror(command[0]);
      _exit(127);
    }
    int status = 0;
    struct rusage usage {};
    while (sampling && wait4(pid, &status, WNOHANG, &usage) == 0) {
      auto [pss, anon] = sample(pid);
      max_pss_kib = std::max(max_pss_kib, pss);
      max_anon_kib = std::max(max_anon_kib, anon);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!sampling) wait4(pid, &status, 0, &usage);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "bench_measure: %s failed (status %d)\n", command[0], status);
      return 1;
    }
    best = std::min(best, seconds);
    max_rss_kib = std::max(max_rss_kib, usage.ru_maxrss);
  }
  std::printf("seconds=%.4f rss_mib=%.1f", best, static_cast<double>(max_rss_kib) / 1024.0);
  if (sampling) {
    std::printf(" pss_mib=%.1f anon_mib=%.1f", static_cast<double>(max_pss_kib) / 1024.0, static_cast<double>(max_anon_kib) / 1024.0);
  }
  std::printf("\n");
  return 0;
}
