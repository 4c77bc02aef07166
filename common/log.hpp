// One line per event on stderr: "2026-11-24T19:00:00Z INFO message".
// Thread-safe. The level threshold is process-wide.
#pragma once

#include <string_view>

namespace flotilla::common {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view message);

}  // namespace flotilla::common
