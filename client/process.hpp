// Running helper programs (health checks, reboot, fw_setenv)
// with a time limit, stdout captured, never through a shell.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace flotilla::client {

struct ProcessResult {
  int exit_code = -1;     // -1: killed (signal or timeout)
  std::string output;     // stdout, at most 1 MiB
  std::string detail;     // for people: how it ended
  bool timed_out = false; // killed (with its process group) at the timeout
};

// Fails only when the program cannot be started.
common::Result<ProcessResult> run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout);

}  // namespace flotilla::client
