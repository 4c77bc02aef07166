#include "tests/support/swtpm_process.hpp"

#include <csignal>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/support/fixtures.hpp"

namespace flotilla::testing {

namespace {

constexpr const char* kSwtpm = "/usr/bin/swtpm";

}  // namespace

SwtpmProcess::SwtpmProcess(const std::filesystem::path& state_dir) {
  if (!std::filesystem::exists(kSwtpm)) throw std::runtime_error("swtpm is missing: scripts/setup installs it");
  std::filesystem::create_directories(state_dir);
  // The swtpm TCTI finds the control channel at the next port.
  for (int attempt = 0; attempt < 20; ++attempt) {
    port_ = free_port();
    if (port_ < 65535 && port_is_free(port_ + 1)) break;
  }
  int control = port_ + 1;
  std::string state = "dir=" + state_dir.string();
  std::string server = "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1";
  std::string ctrl = "type=tcp,port=" + std::to_string(control) + ",bindaddr=127.0.0.1";
  std::string log = "file=" + (state_dir / "swtpm.log").string();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::execl(kSwtpm, kSwtpm, "socket", "--tpm2", "--tpmstate", state.c_str(), "--server", server.c_str(), "--ctrl",
            ctrl.c_str(), "--flags", "not-need-init,startup-clear", "--log", log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 100; ++i) {
    if (accepts_connections(port_)) return;
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  throw std::runtime_error("swtpm did not come up: " + read_text(state_dir / "swtpm.log"));
}

SwtpmProcess::~SwtpmProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace flotilla::testing
