// bench_measure: runs a command and prints its wall time and peak RSS.
//   bench_measure [--repeat N] -- COMMAND [ARGS...]
// Prints "seconds=S rss_mib=M" where S is the fastest of N runs (the least
// disturbed by other load) and M the largest peak RSS seen. Exits non-zero
// if any run fails.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <algorithm>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

int main(int argc, char** argv) {
  int repeat = 1;
  int first = 1;
  while (first < argc && std::strcmp(argv[first], "--") != 0) {
    if (std::strcmp(argv[first], "--repeat") == 0 && first + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[first + 1]));
      first += 2;
    } else {
      std::fprintf(stderr, "usage: bench_measure [--repeat N] -- COMMAND [ARGS...]\n");
      return 2;
    }
  }
  if (first + 1 >= argc) {
    std::fprintf(stderr, "usage: bench_measure [--repeat N] -- COMMAND [ARGS...]\n");
    return 2;
  }
  char** command = argv + first + 1;
  double best = 1e300;
  long max_rss_kib = 0;
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
    wait4(pid, &status, 0, &usage);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "bench_measure: %s failed (status %d)\n", command[0], status);
      return 1;
    }
    best = std::min(best, seconds);
    max_rss_kib = std::max(max_rss_kib, usage.ru_maxrss);
  }
  std::printf("seconds=%.4f rss_mib=%.1f\n", best, static_cast<double>(max_rss_kib) / 1024.0);
  return 0;
}
