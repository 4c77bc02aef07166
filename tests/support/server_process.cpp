#include "tests/support/server_process.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/support/fixtures.hpp"

namespace flotilla::testing {
namespace {

int wait_for(pid_t pid, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace

ShellOutput capture_shell(const std::string& command) {
  ShellOutput result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_shell(const std::string& command, int timeout_seconds) {
  return wait_for([&] {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }(), timeout_seconds);
}

ServerProcess::ServerProcess(std::string binary, std::filesystem::path data, std::string root_json_path,
                             std::string store)
    : binary_(std::move(binary)), data_(std::move(data)), store_(std::move(store)) {
  const char* engine = std::getenv("FLOTILLA_TEST_STORE");
  if (store_.empty() && engine != nullptr && std::string(engine) == "postgres") {
    database_ = std::make_unique<PostgresDatabase>();
    store_ = database_->url();
  }
  if (!std::filesystem::exists(data_ / "admin.token") && !std::filesystem::exists(data_ / "report.key")) {
    std::string command = binary_ + " init --data '" + data_.string() + "'";
    if (!store_.empty()) command += " --store '" + store_ + "'";
    if (!root_json_path.empty()) command += " --root '" + root_json_path + "'";
    if (run_shell(command + " > /dev/null") != 0) throw std::runtime_error("flotilla-server init failed");
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
}

void ServerProcess::start(const std::vector<std::string>& extra_args) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    int log = ::open((data_ / "server.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(log, STDERR_FILENO);
    ::close(out[0]);
    std::vector<std::string> args = {binary_, "serve", "--data", data_.string(), "--listen", listen_,
                                     "--threads", "4"};
    if (!store_.empty()) args.insert(args.end(), {"--store", store_});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary_.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  // The first stdout line is the URL; wait for it at most 15 s.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buffer[256];
      ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;
      line.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(out[0]);
  auto newline = line.find('\n');
  if (newline == std::string::npos) throw std::runtime_error("server did not print its URL: " + log());
  url_ = line.substr(0, newline);
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = wait_for(pid_, 40);
  pid_ = -1;
  return status;
}

void ServerProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string ServerProcess::admin_token() const {
  auto token = read_text(data_ / "admin.token");
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  return token;
}

std::string ServerProcess::log() const { return read_text(data_ / "server.log"); }

std::string ServerProcess::store_location() const {
  return store_.empty() ? (data_ / "flotilla.db").string() : store_;
}

}  // namespace flotilla::testing
