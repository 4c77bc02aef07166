// RFC 3339 timestamps. Flotilla writes UTC with a 'Z' and whole seconds.
#pragma once

#include <chrono>
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

TimePoint now_utc();

}  // namespace flotilla::common
