#include "server/api/request_checks.hpp"

#include <algorithm>
#include <string_view>

#include "common/encoding.hpp"
#include "server/api/reply.hpp"

namespace flotilla::server::api {
namespace {

constexpr std::size_t kMaxPath = 2048, kMaxQueryParameters = 32, kMaxQueryName = 64, kMaxQueryValue = 1024;

// UTF-8 with no C0 control character or DEL: no documented path, query
// value or header takes one, and they would end up in logs and reports.
bool is_text(std::string_view text) {
  bool controls = std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
  return !controls && common::is_valid_utf8(text);
}

// A parameter name safe to repeat in an error: letters, digits, '_', '-', '.'.
bool is_plain_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxQueryName && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

std::optional<http::Response> refuse_malformed_request(const http::Request& request) {
  if (request.path.size() > kMaxPath) return problem(414, "the path is longer than 2048 bytes");
  if (!is_text(request.path)) {
    return problem(400, "the path is not valid UTF-8 text", {{"path", "must be UTF-8 without control characters"}});
  }
  if (request.query.size() > kMaxQueryParameters) return problem(400, "more than 32 query parameters");
  for (const auto& [key, value] : request.query) {
    if (key.size() > kMaxQueryName || value.size() > kMaxQueryValue) return problem(400, "a query parameter is too long");
    if (!is_text(key)) {
      return problem(400, "invalid query", {{"query", "a parameter name is not UTF-8 text without control characters"}});
    }
    if (!is_text(value)) {
      return problem(400, "invalid query",
                     {{is_plain_name(key) ? key : std::string("query"), "must be UTF-8 text without control characters"}});
    }
  }
  for (const char* name : kReadHeaders) {
    auto value = request.header(name);
    if (value && !is_text(*value)) {
      return problem(400, "invalid header", {{name, "must be UTF-8 text without control characters"}});
    }
  }
  return std::nullopt;
}

}  // namespace flotilla::server::api
