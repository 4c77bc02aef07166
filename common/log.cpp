#include "common/log.hpp"

#include <atomic>
#include <cstdio>
#include <string>

#include "common/time.hpp"

namespace flotilla::common {
namespace {
std::atomic<int> threshold{static_cast<int>(LogLevel::kInfo)};
constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
}  // namespace

void set_log_level(LogLevel level) { threshold = static_cast<int>(level); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) >= threshold.load(); }

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  // Newlines would let a message forge log lines; fold them.
  std::string line = format_rfc3339(now_utc()) + " " + kNames[static_cast<int>(level)] + " ";
  for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace flotilla::common
