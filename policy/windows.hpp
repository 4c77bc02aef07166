// Maintenance windows (DESIGN.md §7): whether a time lies in one of a
// policy's windows for a device, and the next occurrence to hand a device
// for `windows_apply_to: activate`. Windows are read on the local wall
// clock of their zone, so a window "01:00 for 4h" ends at 05:00 local
// time also on the night daylight saving begins or ends.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "policy/rollout_policy.hpp"

namespace flotilla::policy {

// Resolves an IANA zone's UTC offset at a time; nullopt when unknown. The
// caller supplies it (policy/ reads no files): the server from tzdata.
using ZoneOffsets = std::function<std::optional<std::chrono::seconds>(std::string_view zone, common::TimePoint at)>;

// The offset a window's times are read in for one device: nullopt when it
// cannot be known (a zone nobody resolves) — such a window never opens. A
// device that never reported its offset is taken to run on UTC.
std::optional<std::chrono::seconds> window_offset(const TimeZone& tz, std::optional<std::chrono::minutes> device_offset,
                                                  const ZoneOffsets& zones, common::TimePoint at);

bool in_any_window(const std::vector<Window>& windows, common::TimePoint at,
                   std::optional<std::chrono::minutes> device_offset, const ZoneOffsets& zones);

struct WindowInterval {
  common::TimePoint start, end;  // UTC
};
// The occurrence that contains `at`, else the next to start within 8 days.
std::optional<WindowInterval> next_window(const std::vector<Window>& windows, common::TimePoint at,
                                          std::optional<std::chrono::minutes> device_offset, const ZoneOffsets& zones);

// Windows restrict the rollout at `now`: there are some, and the deadline
// has not passed with enforce_after_deadline.
bool windows_in_force(const RolloutPolicy& policy, common::TimePoint now);

// "+05:30" → 330 minutes; what devices report as utc_offset.
std::optional<std::chrono::minutes> parse_utc_offset(std::string_view text);

}  // namespace flotilla::policy
