// Plain HTTP request and response types: what handlers see. No cpprest
// here, so handlers compile fast and the transport can be replaced.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flotilla::server::http {

struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string path;     // decoded path, e.g. "/api/v1/bundles"
  std::map<std::string, std::string> query;
  Headers headers;
  std::string body;                     // for in-memory bodies
  std::filesystem::path body_file;      // for bodies streamed to disk
  std::uint64_t body_size = 0;
  std::string remote_address;

  std::optional<std::string> header(const std::string& name) const;
};

// A byte range of a file, sent as the body.
struct FileBody {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  // A report written for this response: removed once the transport has
  // it open (or could not open it).
  bool remove_when_sent = false;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  Headers headers;
  std::string body;
  std::optional<FileBody> file;
};

// How the transport should receive a route's body, decided from the
// request line and headers before any body byte is read.
struct BodyPolicy {
  enum class Kind { kMemory, kFile } kind = Kind::kMemory;
  std::uint64_t max_bytes = 64 * 1024;
};

// What the transport calls. handle() may block on the database; it runs on
// the transport's worker threads. Thread-safe.
class Application {
 public:
  virtual ~Application() = default;
  virtual BodyPolicy body_policy(const std::string& method, const std::string& path) const = 0;
  virtual Response handle(Request& request) = 0;
  // Where streamed bodies are written.
  virtual std::filesystem::path upload_dir() const = 0;
};

}  // namespace flotilla::server::http
