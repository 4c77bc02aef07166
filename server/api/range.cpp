#include "server/api/range.hpp"

#include "common/decimal.hpp"

namespace flotilla::server::api {
namespace {

bool parse_number(std::string_view text, std::uint64_t& out) { return common::parse_decimal(text, out); }

}  // namespace

RangeDecision decide_range(const std::optional<std::string>& range_header,
                           const std::optional<std::string>& if_range_header, const std::string& etag,
                           std::uint64_t size) {
  RangeDecision whole;
  if (!range_header) return whole;
  if (if_range_header && *if_range_header != etag) return whole;
  std::string_view spec = *range_header;
  if (!spec.starts_with("bytes=")) return whole;  // unknown unit: ignore the header
  spec.remove_prefix(6);
  if (spec.find(',') != std::string_view::npos) return whole;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  RangeDecision partial{RangeOutcome::kPartial, {}};
  std::uint64_t a = 0, b = 0;
  if (first.empty()) {
    // Suffix: the last N bytes.
    if (!parse_number(last, b)) return whole;
    if (b == 0 || size == 0) return {RangeOutcome::kUnsatisfiable, {}};
    std::uint64_t n = std::min(b, size);
    partial.range = {size - n, n};
    return partial;
  }
  if (!parse_number(first, a)) return whole;
  if (a >= size) return {RangeOutcome::kUnsatisfiable, {}};
  if (last.empty()) {
    b = size - 1;
  } else {
    if (!parse_number(last, b) || b < a) return whole;  // invalid: ignore
    b = std::min(b, size - 1);
  }
  partial.range = {a, b - a + 1};
  return partial;
}

}  // namespace flotilla::server::api
