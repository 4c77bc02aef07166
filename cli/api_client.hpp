// The CLI's client of the server's REST API (libcurl, kept behind this
// header). One client per command; not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "cli/command.hpp"
#include "common/json.hpp"

namespace flotilla::cli {

struct ApiResponse {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string token_expires;  // the server's X-Flotilla-Token-Expires: when the token used runs out

  bool ok() const { return status >= 200 && status < 300; }
  // The body parsed as JSON (null when it is not JSON).
  common::Json json() const;
};

class ApiClient {
 public:
  ApiClient(std::string base_url, std::optional<std::string> token);

  // Fails only when the server cannot be reached or answers garbage; an
  // HTTP error status is a response, for the caller to explain.
  // `headers` are extra "Name: value" lines.
  common::Result<ApiResponse> request(const std::string& method, const std::string& path,
                                      const std::string& body = "", const std::vector<std::string>& headers = {});
  // Streams a file as the body (never whole in memory), with progress.
  common::Result<ApiResponse> upload(const std::string& path, const std::filesystem::path& file,
                                     const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

  // GETs `path` into `file` (through FILE.part, renamed when complete),
  // never whole in memory; an error answer is returned in the body as usual.
  common::Result<ApiResponse> download(const std::string& path, const std::filesystem::path& file,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

  const std::string& base_url() const { return base_url_; }
  void set_token(std::optional<std::string> token) { token_ = std::move(token); }
  // Trust only these CA certificates for https:// (default: the system's).
  void set_ca_file(std::string path) { ca_file_ = std::move(path); }

 private:
  std::string base_url_;
  std::optional<std::string> token_;
  std::string ca_file_;

  void apply_tls(void* curl) const;
};

// A member of an answer as text for a table: strings as they are, other
// values as JSON, absent or null as "-".
std::string json_text(const common::Json& object, const char* key);

// Percent-encodes a path segment or query value (RFC 3986 unreserved kept).
std::string url_encode(const std::string& value);

// A client for --server with the token from --token-file.
common::Result<ApiClient> connect(const ServerOptions& options);

// Runs one request and prints the answer: its JSON with --json, else what
// `show` makes of it; an error status is explained on stderr (exit 1).
int call(const ServerOptions& options, const std::string& method, const std::string& path, const std::string& body,
         const std::function<void(const common::Json&)>& show);

// "flotilla: error: Forbidden (403): the publisher role may not do this"
// plus one line per field error; returns exit code 1.
int report_api_error(const ApiResponse& response);

}  // namespace flotilla::cli
