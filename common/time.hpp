// RFC 3339 timestamps. Flotilla writes UTC with a 'Z' and whole seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace flotilla::common {

using TimePoint = std::chrono::sys_seconds;

// Accepts "2026-11-24T19:00:00Z", with optional fractional seconds (dropped)
// and a numeric offset ("+05:30"). Rejects out-of-range fields and
// anything else.
Result<TimePoint> parse_rfc3339(std::string_view text);
// "2026-11-24T19:00:00Z".
std::string format_rfc3339(TimePoint time);
// The same for a time given in Unix seconds.
inline std::string format_unix_seconds(std::int64_t seconds) {
  return format_rfc3339(TimePoint(std::chrono::seconds(seconds)));
}

TimePoint now_utc();

// "90s", "15m", "6h", "2d", or compounds such as "1h30m" (units in
// decreasing order, each once). At most 366 days.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace flotilla::common
