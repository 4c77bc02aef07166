// A software TPM 2.0 (swtpm, as scripts/setup installs it) for tests, on
// loopback ports of its own, its state in a directory the test owns. A
// new state directory is a new TPM: another device.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace flotilla::testing {

class SwtpmProcess {
 public:
  // Starts swtpm (already started up: no tpm2_startup needed) and waits
  // until it accepts commands. Throws std::runtime_error when it cannot.
  explicit SwtpmProcess(const std::filesystem::path& state_dir);
  ~SwtpmProcess();
  SwtpmProcess(const SwtpmProcess&) = delete;
  SwtpmProcess& operator=(const SwtpmProcess&) = delete;

  // The TCTI that reaches it, for tpm2-tss and tpm2-openssl.
  std::string tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace flotilla::testing
