// flotilla-fleet-sim in the background for end-to-end tests; SIGTERM
// makes it print its JSON summary, which finish() returns.
#pragma once

#include <filesystem>
#include <string>

#include "common/json.hpp"

namespace flotilla::testing {

class FleetSimProcess {
 public:
  // `binary` is the flotilla-fleet-sim path; its state, output and pid
  // go under `dir`; `args` are appended as given (shell words).
  FleetSimProcess(const std::string& binary, const std::filesystem::path& dir, const std::string& args);
  ~FleetSimProcess() { finish(); }
  FleetSimProcess(const FleetSimProcess&) = delete;
  FleetSimProcess& operator=(const FleetSimProcess&) = delete;
  // Stops the simulator (bounded wait) and returns its summary.
  common::Json finish();
  std::string errors() const;

 private:
  std::filesystem::path dir_;
  int pid_ = -1;
};

}  // namespace flotilla::testing
