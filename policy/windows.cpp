#include "policy/windows.hpp"

#include <algorithm>

namespace flotilla::policy {

namespace {

using std::chrono::days;
using std::chrono::seconds;
using common::TimePoint;

// Monday = 0, as in Window::days.
int weekday_of(std::chrono::sys_days day) { return static_cast<int>((std::chrono::weekday(day).c_encoding() + 6) % 7); }

bool has_day(const Window& w, std::chrono::sys_days day) {
  return std::find(w.days.begin(), w.days.end(), weekday_of(day)) != w.days.end();
}

// A local wall-clock time to UTC: guess with the offset at the local time
// read as UTC, then settle on the offset in force at the guess.
std::optional<TimePoint> to_utc(TimePoint local, const TimeZone& tz, std::optional<std::chrono::minutes> device_offset,
                                const ZoneOffsets& zones) {
  auto first = window_offset(tz, device_offset, zones, local);
  if (!first) return std::nullopt;
  auto second = window_offset(tz, device_offset, zones, local - *first);
  if (!second) return std::nullopt;
  return local - *second;
}

}  // namespace

std::optional<std::chrono::seconds> window_offset(const TimeZone& tz, std::optional<std::chrono::minutes> device_offset,
                                                  const ZoneOffsets& zones, TimePoint at) {
  switch (tz.kind) {
    case TimeZone::Kind::kUtc:
      return seconds(0);
    case TimeZone::Kind::kFixed:
      return tz.offset;
    case TimeZone::Kind::kDevice:
      return device_offset.value_or(std::chrono::minutes(0));
    case TimeZone::Kind::kIana:
      if (!zones) return std::nullopt;
      return zones(tz.name, at);
  }
  return std::nullopt;
}

bool in_any_window(const std::vector<Window>& windows, TimePoint at, std::optional<std::chrono::minutes> device_offset,
                   const ZoneOffsets& zones) {
  for (const auto& w : windows) {
    auto offset = window_offset(w.tz, device_offset, zones, at);
    if (!offset) continue;
    TimePoint local = at + *offset;
    auto today = std::chrono::floor<days>(local);
    // A window may have started on an earlier day and still run.
    auto reach = std::chrono::ceil<days>(w.duration).count();
    for (std::int64_t back = 0; back <= reach; ++back) {
      auto day = today - days(back);
      if (!has_day(w, day)) continue;
      auto since = local - (TimePoint(day) + w.start);
      if (since >= seconds(0) && since < w.duration) return true;
    }
  }
  return false;
}

std::optional<WindowInterval> next_window(const std::vector<Window>& windows, TimePoint at,
                                          std::optional<std::chrono::minutes> device_offset, const ZoneOffsets& zones) {
  std::optional<WindowInterval> best;
  for (const auto& w : windows) {
    auto offset = window_offset(w.tz, device_offset, zones, at);
    if (!offset) continue;
    auto today = std::chrono::floor<days>(at + *offset);
    auto reach = std::chrono::ceil<days>(w.duration).count();
    for (std::int64_t d = -reach; d <= 8; ++d) {
      auto day = today + days(d);
      if (!has_day(w, day)) continue;
      TimePoint local_start = TimePoint(day) + w.start;
      auto start = to_utc(local_start, w.tz, device_offset, zones);
      auto end = to_utc(local_start + w.duration, w.tz, device_offset, zones);
      if (!start || !end || *end <= at) continue;
      if (!best || *start < best->start) best = WindowInterval{std::max(*start, at), *end};
      break;  // later days of this window start later still
    }
  }
  return best;
}

bool windows_in_force(const RolloutPolicy& policy, TimePoint now) {
  if (policy.schedule.windows.empty()) return false;
  return !(policy.enforce_after_deadline && policy.deadline && now >= *policy.deadline);
}

std::optional<std::chrono::minutes> parse_utc_offset(std::string_view text) {
  auto zone = parse_time_zone(text);
  if (!zone) return std::nullopt;
  if (zone->kind == TimeZone::Kind::kUtc) return std::chrono::minutes(0);
  if (zone->kind == TimeZone::Kind::kFixed) return zone->offset;
  return std::nullopt;
}

}  // namespace flotilla::policy
