// Unsigned decimal numbers from text that must be nothing else: digits
// only (no sign, no spaces), at most `max_digits` of them, so the value
// never overflows.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace flotilla::common {

inline bool parse_decimal(std::string_view text, std::uint64_t& out, std::size_t max_digits = 19) {
  if (text.empty() || text.size() > max_digits) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace flotilla::common
