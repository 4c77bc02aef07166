#include "policy/units.hpp"

#include "common/decimal.hpp"

#include <array>
#include <charconv>
#include <string>

namespace flotilla::policy {
namespace {

bool parse_uint(std::string_view text, std::uint64_t& out) { return common::parse_decimal(text, out, 12); }

}  // namespace

std::optional<Percent> parse_percent(std::string_view text) {
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  text.remove_suffix(1);
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (dot != std::string_view::npos && (fraction.empty() || fraction.size() > 4)) return std::nullopt;
  std::uint64_t w = 0, f = 0;
  if (!parse_uint(whole, w) || (whole.size() > 1 && whole[0] == '0')) return std::nullopt;
  if (!fraction.empty() && !parse_uint(fraction, f)) return std::nullopt;
  for (std::size_t i = fraction.size(); i < 4; ++i) f *= 10;
  std::uint64_t ppm = w * 10000 + f;  // ten-thousandths of a percent = ppm
  if (ppm > 1000000) return std::nullopt;
  return Percent{static_cast<std::uint32_t>(ppm)};
}

std::string format_percent(Percent percent) {
  std::string out = std::to_string(percent.ppm / 10000);
  if (auto rest = percent.ppm % 10000; rest != 0) {
    std::string digits = std::to_string(rest);
    digits.insert(0, 4 - digits.size(), '0');
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out + "%";
}

std::optional<std::chrono::minutes> parse_time_of_day(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  std::uint64_t h = 0, m = 0;
  if (!parse_uint(text.substr(0, 2), h) || !parse_uint(text.substr(3, 2), m) || h > 23 || m > 59) return std::nullopt;
  return std::chrono::minutes(h * 60 + m);
}

std::optional<int> parse_weekday(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (std::size_t i = 0; i < kDays.size(); ++i) {
    if (kDays[i] == text) return static_cast<int>(i);
  }
  return std::nullopt;
}

}  // namespace flotilla::policy
