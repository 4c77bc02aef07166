// Durations, percentages, times of day and weekdays as rollout policies
// write them. Pure parsing: no I/O, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/time.hpp"

namespace flotilla::policy {

// Durations ("90s", "1h30m") are shared with the agent's config.
using common::parse_duration;

// A share of a population in parts per million: "5%" = 50000, "0.5%" = 5000.
struct Percent {
  std::uint32_t ppm = 0;
  auto operator<=>(const Percent&) const = default;
  // floor(count * share), exact in integers.
  std::int64_t of(std::int64_t count) const { return count * static_cast<std::int64_t>(ppm) / 1000000; }
};
// "0%" to "100%", up to four decimals ("99.95%").
std::optional<Percent> parse_percent(std::string_view text);
std::string format_percent(Percent percent);

// "HH:MM", 00:00 to 23:59, as minutes after midnight.
std::optional<std::chrono::minutes> parse_time_of_day(std::string_view text);

// "mon".."sun" → 0..6 (Monday first, ISO 8601).
std::optional<int> parse_weekday(std::string_view text);

}  // namespace flotilla::policy
