// UTC offsets of IANA time zones, read from the system's TZif files
// (RFC 8536; Debian's tzdata). libstdc++ 12 has no std::chrono tzdb, and
// maintenance windows in zones with daylight saving need real rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"

namespace flotilla::common {

// One zone: its transitions, and the POSIX TZ rule for times after them.
class Zone {
 public:
  // Parses TZif bytes (versions 1 to 4; the 64-bit block when present).
  static Result<Zone> parse(std::span<const std::uint8_t> bytes);
  std::chrono::seconds offset_at(TimePoint t) const;

  // A POSIX TZ string's daylight-saving rule ("CET-1CEST,M3.5.0,M10.5.0/3").
  struct Rule {
    std::int32_t std_offset = 0, dst_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    struct When {
      unsigned month = 0, week = 0, weekday = 0;  // Mm.w.d
      std::int32_t time = 7200;                  // seconds after local midnight
    } start, end;
  };
  static std::optional<Rule> parse_rule(std::string_view text);

 private:
  std::vector<std::int64_t> transitions_;
  std::vector<std::int32_t> offset_after_;  // offset from transitions_[i] on
  std::int32_t initial_offset_ = 0;
  std::optional<Rule> rule_;
};

// Zones by IANA name, loaded on first use and kept. Thread-safe.
class TimeZoneDb {
 public:
  explicit TimeZoneDb(std::filesystem::path root = "/usr/share/zoneinfo") : root_(std::move(root)) {}
  // kNotFound for an unknown zone, kBadField for a name that is not one.
  Result<std::chrono::seconds> offset(std::string_view zone, TimePoint t);

 private:
  std::filesystem::path root_;
  std::mutex mutex_;
  std::map<std::string, Zone, std::less<>> zones_;
};

}  // namespace flotilla::common
