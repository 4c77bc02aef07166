// Building responses: JSON bodies and RFC 7807 problem details.
#pragma once

#include <cstdint>
#include <optional>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "server/http/types.hpp"

namespace flotilla::server::api {

struct FieldError {
  std::string path;     // JSON Pointer
  std::string message;
};

http::Response json_reply(int status, const common::Json& body);
// A file written for this one answer (an export) as the body; the
// transport removes it once it has it open.
http::Response temporary_file_reply(const std::filesystem::path& file, std::string content_type);
// application/problem+json; `detail` must not echo raw input.
http::Response problem(int status, const std::string& detail, const std::vector<FieldError>& errors = {});
// Maps an error from a library to a status: kBadField/kBadJson → 400,
// kNotFound → 404, kConflict → 409, others → 500 (detail logged, not sent).
http::Response problem_from(const common::Error& error, int status_for_bad_input = 400);

// A positive decimal integer (a path id, a version): nullopt otherwise.
std::optional<std::int64_t> parse_positive(std::string_view text);

// Parses a request body as a strict JSON object (no duplicate keys, depth
// and size limits); a failure is a ready 400 response.
std::expected<common::JsonObject, http::Response> json_body(const http::Request& request, common::Json& storage);

}  // namespace flotilla::server::api
