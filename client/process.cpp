#include "client/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flotilla::client {

namespace {
constexpr std::size_t kMaxOutput = 1 << 20;
}

common::Result<ProcessResult> run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (argv.empty()) return common::fail(common::Errc::kBadField, "no program to run");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return common::fail(common::Errc::kIo, "cannot create a pipe");
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return common::fail(common::Errc::kIo, "cannot start " + argv.front());
  }
  if (pid == 0) {
    // A group of its own, so a timeout kills what it started too (a
    // shell script's sleep would otherwise outlive it).
    ::setpgid(0, 0);
    ::dup2(out[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true, timed_out = false;
  char buffer[4096];
  while (open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000))) <= 0) continue;
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) {
      open = false;
    } else if (result.output.size() < kMaxOutput) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(out[0]);
  int status = 0;
  // Output closed: wait for the exit, still within the deadline.
  while (!timed_out && ::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    ::usleep(10000);
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    result.timed_out = true;
    result.detail = argv.front() + " did not finish within " + std::to_string(timeout.count()) + "s";
    return result;
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    result.detail = argv.front() + (result.exit_code == 127 ? " could not be run" : " exited " + std::to_string(result.exit_code));
  } else {
    result.detail = argv.front() + " was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return result;
}

}  // namespace flotilla::client
