#include "server/front/front_process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/file.hpp"
#include "common/log.hpp"

extern char** environ;

namespace flotilla::server::front {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kStartDeadline = std::chrono::seconds(10);
constexpr auto kGracefulStop = std::chrono::seconds(10);  // requests in progress finish
constexpr auto kFastStop = std::chrono::seconds(5);
constexpr milliseconds kFirstBackoff{200};
constexpr milliseconds kMaxBackoff{5000};
// A front that ran this long before dying starts again at once.
constexpr auto kStableRun = std::chrono::seconds(30);
// nginx inherits the listening socket as this descriptor.
constexpr int kInheritedFd = 3;
// Descriptors are moved at least this high before fork, so the child's
// dup2 calls onto 0..3 never overwrite one another.
constexpr int kHighFd = 10;

// nginx's own level ("... [warn] ...") decides the line's level here.
common::LogLevel level_of(std::string_view line) {
  if (line.find("[notice]") != std::string_view::npos || line.find("[info]") != std::string_view::npos) {
    return common::LogLevel::kInfo;
  }
  if (line.find("[warn]") != std::string_view::npos) return common::LogLevel::kWarn;
  return common::LogLevel::kError;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// A descriptor at kHighFd or above, close-on-exec; the original is closed.
int moved_high(int fd) {
  if (fd < 0) return -1;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  ::close(fd);
  return high;
}

struct Command {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv, envp;

  Command(std::vector<std::string> a, std::vector<std::string> e) : args(std::move(a)), env(std::move(e)) {
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

std::vector<std::string> environment_with(const std::string& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).starts_with("NGINX=")) continue;
    env.emplace_back(*e);
  }
  if (!extra.empty()) env.push_back(extra);
  return env;
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(const Command& command, pid_t parent, int devnull, int log_fd, int listen_fd) {
  ::setpgid(0, 0);
  // The front goes when the server goes, however the server goes.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(1);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::dup2(devnull, 0);
  ::dup2(devnull, 1);
  ::dup2(log_fd, 2);
  if (listen_fd >= 0) ::dup2(listen_fd, kInheritedFd);
  ::close_range(listen_fd >= 0 ? kInheritedFd + 1 : kInheritedFd, ~0U, 0);
  ::execve(command.argv[0], command.argv.data(), command.envp.data());
  ::_exit(127);
}

}  // namespace

common::Status check_config(const fs::path& nginx, const fs::path& config, const fs::path& prefix) {
  if (!fs::exists(nginx)) {
    return common::fail(common::Errc::kNotFound, nginx.string() + " is missing: install nginx (apt-get install nginx-light), "
                                                 "or serve with --front none behind a proxy of your own");
  }
  // nginx -t creates the temporary directories the configuration names.
  std::error_code ec;
  fs::create_directories(prefix / "tmp", ec);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return common::fail(common::Errc::kIo, "pipe: cannot run nginx -t");
  int devnull = moved_high(::open("/dev/null", O_RDWR | O_CLOEXEC));
  int read_fd = pipe_fds[0], write_fd = moved_high(pipe_fds[1]);
  if (devnull < 0 || write_fd < 0) {
    for (int fd : {devnull, read_fd, write_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return common::fail(common::Errc::kIo, "out of file descriptors: cannot run nginx -t");
  }
  Command command({nginx.string(), "-t", "-q", "-e", "stderr", "-p", prefix.string(), "-c", config.string()},
                  environment_with(""));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) exec_child(command, parent, devnull, write_fd, -1);
  ::close(write_fd);
  ::close(devnull);
  std::string output;
  std::array<char, 4096> buffer{};
  for (ssize_t n; (n = ::read(read_fd, buffer.data(), buffer.size())) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (output.size() < 64 * 1024) output.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(read_fd);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return common::fail(common::Errc::kIo, "cannot run " + nginx.string());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return common::fail(common::Errc::kBadField, "the front's configuration " + config.string() + " is refused by nginx (" +
                                                   describe_status(status) + "): " + output);
}

FrontProcess::FrontProcess(fs::path nginx, fs::path prefix, int listen_fd)
    : nginx_(std::move(nginx)), prefix_(std::move(prefix)), listen_fd_(listen_fd) {}

common::Result<std::unique_ptr<FrontProcess>> FrontProcess::start(const fs::path& nginx, const fs::path& prefix,
                                                                  const std::string& config, int listen_fd) {
  std::error_code ec;
  fs::create_directories(prefix / "tmp", ec);
  if (ec) return common::fail(common::Errc::kIo, "cannot create " + (prefix / "tmp").string() + ": " + ec.message());
  fs::permissions(prefix, fs::perms::owner_all, ec);
  auto config_path = prefix / "nginx.conf";
  fs::remove(config_path, ec);
  if (auto ok = common::write_file_exclusive(config_path, config, 0600); !ok) return std::unexpected(ok.error());
  if (auto ok = check_config(nginx, config_path, prefix); !ok) return std::unexpected(ok.error());
  std::unique_ptr<FrontProcess> front(new FrontProcess(nginx, prefix, listen_fd));
  if (auto ok = front->spawn(); !ok) return std::unexpected(ok.error());
  front->supervisor_ = std::thread([raw = front.get()] { raw->supervise(); });
  return front;
}

common::Status FrontProcess::spawn() {
  auto pid_file = prefix_ / "nginx.pid";
  std::error_code ec;
  fs::remove(pid_file, ec);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return common::fail(common::Errc::kIo, "pipe: cannot start the front");
  int devnull = moved_high(::open("/dev/null", O_RDWR | O_CLOEXEC));
  int read_fd = pipe_fds[0], write_fd = moved_high(pipe_fds[1]);
  int listen_fd = ::fcntl(listen_fd_, F_DUPFD_CLOEXEC, kHighFd);
  if (devnull < 0 || write_fd < 0 || listen_fd < 0) {
    for (int fd : {devnull, read_fd, write_fd, listen_fd}) {
      if (fd >= 0) ::close(fd);
    }
    return common::fail(common::Errc::kIo, "out of file descriptors: cannot start the front");
  }
  // NGINX=3; makes nginx take over the inherited socket instead of binding.
  Command command({nginx_.string(), "-e", "stderr", "-p", prefix_.string(), "-c", (prefix_ / "nginx.conf").string(), "-g",
                   "daemon off;"},
                  environment_with("NGINX=" + std::to_string(kInheritedFd) + ";"));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) exec_child(command, parent, devnull, write_fd, listen_fd);
  ::close(write_fd);
  ::close(devnull);
  ::close(listen_fd);
  if (pid < 0) {
    ::close(read_fd);
    return common::fail(common::Errc::kIo, "fork: cannot start the front");
  }
  ::setpgid(pid, pid);
  if (log_reader_.joinable()) log_reader_.join();  // the previous front's log ended with it
  log_reader_ = std::thread([this, read_fd] { forward_log(read_fd); });
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(pid_file)) return {};
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ::kill(-pid, SIGKILL);
      pid_ = -1;
      return common::fail(common::Errc::kIo, "the front (nginx) exited at start with " + describe_status(status) +
                                                 "; its messages are in the log above");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid_ = -1;
  return common::fail(common::Errc::kIo, "the front (nginx) did not start within 10 s");
}

void FrontProcess::forward_log(int fd) {
  std::string pending;
  std::array<char, 4096> buffer{};
  for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    pending.append(buffer.data(), static_cast<std::size_t>(n));
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      common::log(level_of(std::string_view(pending).substr(0, end)), "front: " + pending.substr(0, end));
      pending.erase(0, end + 1);
    }
    if (pending.size() > 16 * 1024) pending.clear();  // a line that never ends is not worth keeping
  }
  if (!pending.empty()) common::log(level_of(pending), "front: " + pending);
  ::close(fd);
}

void FrontProcess::supervise() {
  auto backoff = kFirstBackoff;
  while (true) {
    pid_t pid = pid_.load();
    auto started = std::chrono::steady_clock::now();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // Workers outlive a master that was killed; they go with it.
    ::kill(-pid, SIGKILL);
    pid_ = -1;
    if (stopping_) return;
    if (std::chrono::steady_clock::now() - started > kStableRun) backoff = kFirstBackoff;
    while (true) {
      common::log(common::LogLevel::kWarn, "the front (nginx, pid " + std::to_string(pid) + ") ended with " +
                                               describe_status(status) + "; starting it again in " +
                                               std::to_string(backoff.count()) + " ms");
      {
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, backoff, [this] { return stopping_.load(); })) return;
      }
      backoff = std::min(backoff * 2, kMaxBackoff);
      std::unique_lock lock(mutex_);
      if (stopping_) return;
      if (auto ok = spawn(); ok) break;
      else common::log(common::LogLevel::kError, "the front did not start again: " + ok.error().message());
    }
    ++restarts_;
    common::log(common::LogLevel::kInfo, "the front is serving again (pid " + std::to_string(pid_.load()) + ")");
  }
}

void FrontProcess::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_.exchange(true)) return;
  }
  wake_.notify_all();
  pid_t pid = pid_.load();
  if (pid > 0) {
    // SIGQUIT: nginx stops accepting and finishes what it is sending.
    ::kill(pid, SIGQUIT);
    auto graceful = std::chrono::steady_clock::now() + kGracefulStop;
    while (pid_.load() > 0 && std::chrono::steady_clock::now() < graceful) std::this_thread::sleep_for(milliseconds(20));
    if (pid_.load() > 0) ::kill(pid, SIGTERM);
    auto fast = std::chrono::steady_clock::now() + kFastStop;
    while (pid_.load() > 0 && std::chrono::steady_clock::now() < fast) std::this_thread::sleep_for(milliseconds(20));
    if (pid_.load() > 0) ::kill(-pid, SIGKILL);
  }
  if (supervisor_.joinable()) supervisor_.join();
  if (log_reader_.joinable()) log_reader_.join();
}

FrontProcess::~FrontProcess() { stop(); }

}  // namespace flotilla::server::front
