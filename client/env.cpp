#include "client/env.hpp"

#include <signal.h>

#include <cstdlib>

namespace flotilla::client {

namespace {

std::string_view requested_fault() {
  static const char* fault = std::getenv("FLOTILLA_AGENT_FAULT");
  return fault ? std::string_view(fault) : std::string_view();
}

}  // namespace

common::TimePoint Env::now() { return common::now_utc(); }

std::chrono::steady_clock::time_point Env::steady_now() { return std::chrono::steady_clock::now(); }

void Env::reached(std::string_view point) {
  auto fault = requested_fault();
  constexpr std::string_view kCrashAfter = "crash-after:";
  if (fault.starts_with(kCrashAfter) && fault.substr(kCrashAfter.size()) == point) ::raise(SIGKILL);
}

bool Env::requested(std::string_view fault) { return !fault.empty() && requested_fault() == fault; }

common::Result<ProcessResult> Env::run(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  return run_process(argv, timeout);
}

Env& system_env() {
  static Env env;
  return env;
}

}  // namespace flotilla::client
