#include "client/activation_window.hpp"

#include <algorithm>
#include <optional>

namespace flotilla::client {
namespace {

std::optional<common::TimePoint> time_at(const common::Json& window, const char* key) {
  if (!window.contains(key) || !window[key].is_string()) return std::nullopt;
  auto t = common::parse_rfc3339(window[key].get<std::string>());
  return t ? std::optional(*t) : std::nullopt;
}

}  // namespace

bool activation_window_open(const common::Json& window, common::TimePoint now) {
  if (!window.is_object()) return true;
  if (auto until = time_at(window, "until"); until && now >= *until) return true;
  auto start = time_at(window, "start"), end = time_at(window, "end");
  return start && end && now >= *start && now < *end;
}

std::optional<common::TimePoint> activation_window_opens(const common::Json& window) {
  if (!window.is_object()) return std::nullopt;
  auto start = time_at(window, "start"), until = time_at(window, "until");
  if (start && until) return std::min(*start, *until);
  return start ? start : until;
}

std::string describe_activation_window(const common::Json& window) {
  if (!window.is_object()) return "any time";
  auto start = time_at(window, "start"), end = time_at(window, "end");
  std::string text = start && end ? "from " + common::format_rfc3339(*start) + " to " + common::format_rfc3339(*end)
                                  : "none within the server's horizon";
  if (auto until = time_at(window, "until")) text += ", or at " + common::format_rfc3339(*until);
  return text;
}

}  // namespace flotilla::client
