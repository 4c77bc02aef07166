#include "server/api/ui_routes.hpp"

#include <map>

#include "server/api/reply.hpp"
#include "server/api/ui_assets.hpp"
#include "signing/digest.hpp"

namespace flotilla::server::api {
namespace {

// Scripts and styles only from files of this origin (no inline code, so
// an injected string cannot run); API calls only to this origin; never
// inside a frame; nothing else.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string content_type_of(std::string_view path) {
  auto dot = path.rfind('.');
  auto extension = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  if (extension == "html") return "text/html; charset=utf-8";
  if (extension == "css") return "text/css; charset=utf-8";
  if (extension == "js") return "text/javascript; charset=utf-8";
  if (extension == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

struct Served {
  std::string_view body;
  std::string etag;
};

// The table with a strong ETag per file, built once.
const std::map<std::string, Served, std::less<>>& served_files() {
  static const auto files = [] {
    std::map<std::string, Served, std::less<>> out;
    for (const auto& asset : ui_assets()) {
      out.emplace(std::string(asset.path),
                  Served{asset.body, "\"" + signing::sha256_hex(asset.body).substr(0, 32) + "\""});
    }
    return out;
  }();
  return files;
}

void add_page_headers(http::Response& response) {
  response.headers["Content-Security-Policy"] = kContentSecurityPolicy;
  response.headers["X-Frame-Options"] = "DENY";
  response.headers["Referrer-Policy"] = "no-referrer";
  response.headers["Cross-Origin-Opener-Policy"] = "same-origin";
  response.headers["Cross-Origin-Resource-Policy"] = "same-origin";
}

}  // namespace

bool is_ui_path(const std::string& path) { return path == "/" || path == "/ui" || path.starts_with("/ui/"); }

http::Response serve_ui(const http::Request& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    auto response = problem(405, "the dashboard's files are read with GET");
    response.headers["Allow"] = "GET, HEAD";
    return response;
  }
  if (request.path == "/" || request.path == "/ui") {
    http::Response response;
    response.status = 302;
    response.content_type = "text/plain; charset=utf-8";
    response.headers["Location"] = "/ui/";
    response.body = "the dashboard is at /ui/\n";
    return response;
  }
  std::string_view relative = std::string_view(request.path).substr(4);
  if (relative.empty()) relative = "index.html";
  const auto& files = served_files();
  auto found = files.find(relative);
  if (found == files.end()) return problem(404, "no such dashboard file");
  http::Response response;
  add_page_headers(response);
  response.headers["ETag"] = found->second.etag;
  // Revalidated on every load: a server upgrade is seen at once.
  response.headers["Cache-Control"] = "no-cache";
  response.content_type = content_type_of(found->first);
  if (request.header("If-None-Match") == found->second.etag) {
    response.status = 304;
    return response;
  }
  if (request.method == "GET") response.body = std::string(found->second.body);
  return response;
}

}  // namespace flotilla::server::api
