#include "common/time.hpp"

#include "common/decimal.hpp"

#include <charconv>

#include <cstdio>

namespace flotilla::common {
namespace {

// Reads exactly `count` decimal digits at `pos`.
bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

bool expect_char(std::string_view text, std::size_t pos, char c) {
  return pos < text.size() && text[pos] == c;
}

}  // namespace

Result<TimePoint> parse_rfc3339(std::string_view text) {
  auto bad = [&](const char* why) {
    return fail(Errc::kBadTime, std::string("not an RFC 3339 time (") + why + ")");
  };
  int year, month, day, hour, minute, second;
  if (!read_digits(text, 0, 4, year) || !expect_char(text, 4, '-') ||
      !read_digits(text, 5, 2, month) || !expect_char(text, 7, '-') ||
      !read_digits(text, 8, 2, day)) {
    return bad("expected YYYY-MM-DD");
  }
  if (!(expect_char(text, 10, 'T') || expect_char(text, 10, 't'))) return bad("expected 'T'");
  if (!read_digits(text, 11, 2, hour) || !expect_char(text, 13, ':') ||
      !read_digits(text, 14, 2, minute) || !expect_char(text, 16, ':') ||
      !read_digits(text, 17, 2, second)) {
    return bad("expected hh:mm:ss");
  }
  std::size_t pos = 19;
  if (expect_char(text, pos, '.')) {
    std::size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start || pos - start > 9) return bad("bad fractional seconds");
  }
  int offset_minutes = 0;
  if (expect_char(text, pos, 'Z') || expect_char(text, pos, 'z')) {
    ++pos;
  } else if (expect_char(text, pos, '+') || expect_char(text, pos, '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    int oh, om;
    if (!read_digits(text, pos + 1, 2, oh) || !expect_char(text, pos + 3, ':') ||
        !read_digits(text, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad("bad offset");
    }
    offset_minutes = sign * (oh * 60 + om);
    pos += 6;
  } else {
    return bad("missing 'Z' or offset");
  }
  if (pos != text.size()) return bad("trailing characters");

  using namespace std::chrono;
  year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                      std::chrono::day{static_cast<unsigned>(day)}};
  // Seconds up to 60 admit a leap second; it is folded into the next minute.
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return bad("field out of range");
  return sys_days{date} + hours{hour} + minutes{minute} + seconds{second} -
         minutes{offset_minutes};
}

std::string format_rfc3339(TimePoint time) {
  using namespace std::chrono;
  auto day_point = floor<days>(time);
  year_month_day date{day_point};
  hh_mm_ss<seconds> clock{time - day_point};
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02ld:%02ld:%02lldZ",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<long>(clock.hours().count()),
                static_cast<long>(clock.minutes().count()),
                static_cast<long long>(clock.seconds().count()));
  return buffer;
}

TimePoint now_utc() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  std::size_t pos = 0;
  int last_unit = 5;  // units must come in decreasing order, each once
  while (pos < text.size()) {
    std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    std::uint64_t value = 0;
    if (pos == start || pos == text.size() || !parse_decimal(text.substr(start, pos - start), value, 12)) return std::nullopt;
    int unit;
    std::uint64_t scale;
    switch (text[pos]) {
      case 'd': unit = 4, scale = 86400; break;
      case 'h': unit = 3, scale = 3600; break;
      case 'm': unit = 2, scale = 60; break;
      case 's': unit = 1, scale = 1; break;
      default: return std::nullopt;
    }
    if (unit >= last_unit) return std::nullopt;
    last_unit = unit;
    total += value * scale;
    if (total > 366ull * 86400) return std::nullopt;
    ++pos;
  }
  return std::chrono::seconds(static_cast<std::int64_t>(total));
}

}  // namespace flotilla::common
