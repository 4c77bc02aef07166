#include "server/api/reply.hpp"

#include <charconv>

#include "common/log.hpp"

namespace flotilla::server::api {
namespace {

std::string title_for(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

// "POINTER: message" from common's validators, split into its parts.
FieldError split_field_error(const std::string& message) {
  auto colon = message.find(": ");
  if (!message.empty() && message[0] == '/' && colon != std::string::npos) {
    return {message.substr(0, colon), message.substr(colon + 2)};
  }
  return {"", message};
}

}  // namespace

std::optional<std::int64_t> parse_positive(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

http::Response json_reply(int status, const common::Json& body) {
  http::Response response;
  response.status = status;
  // Invalid UTF-8 from anywhere is replaced rather than thrown on.
  response.body = body.dump(-1, ' ', false, common::Json::error_handler_t::replace);
  return response;
}

http::Response problem(int status, const std::string& detail, const std::vector<FieldError>& errors) {
  common::Json body = {{"type", "about:blank"}, {"title", title_for(status)}, {"status", status}, {"detail", detail}};
  if (!errors.empty()) {
    body["errors"] = common::Json::array();
    for (const auto& e : errors) body["errors"].push_back({{"path", e.path}, {"message", e.message}});
  }
  auto response = json_reply(status, body);
  response.content_type = "application/problem+json";
  return response;
}

http::Response problem_from(const common::Error& error, int status_for_bad_input) {
  if (error.is(common::Errc::kBadField) || error.is(common::Errc::kBadJson) ||
      error.is(common::Errc::kDuplicateKey) || error.is(common::Errc::kTooLarge)) {
    return problem(status_for_bad_input, error.describe(), {split_field_error(error.message())});
  }
  if (error.is(common::Errc::kNotFound)) return problem(404, error.message());
  if (error.is(common::Errc::kConflict)) return problem(409, error.message());
  if (error.is(common::Errc::kUnavailable)) {
    // Nothing the client sent is wrong: a load balancer or client should
    // try again (the agent does, at its next poll) rather than give up.
    common::log(common::LogLevel::kWarn, error.describe());
    auto response = problem(503, "the database is unreachable or busy; retry in a few seconds");
    response.headers["Retry-After"] = "5";
    return response;
  }
  common::log(common::LogLevel::kError, error.describe());
  return problem(500, "the server could not complete the request; see its log");
}

std::expected<common::JsonObject, http::Response> json_body(const http::Request& request, common::Json& storage) {
  auto doc = common::parse_json_strict(request.body, {.max_bytes = 1 << 20, .max_depth = 16});
  if (!doc) return std::unexpected(problem(400, "the body is not acceptable JSON: " + doc.error().message()));
  storage = std::move(*doc);
  auto object = common::JsonObject::of(storage, "");
  if (!object) return std::unexpected(problem(400, "the body must be a JSON object", {{"", "must be an object"}}));
  return *object;
}

http::Response temporary_file_reply(const std::filesystem::path& file, std::string content_type) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return problem(500, "the export could not be read back; see the server log");
  http::Response response;
  response.content_type = std::move(content_type);
  response.file = http::FileBody{.path = file, .offset = 0, .length = size, .remove_when_sent = true};
  return response;
}

}  // namespace flotilla::server::api
