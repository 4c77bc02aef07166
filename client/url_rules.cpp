#include "client/url_rules.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "client/errors.hpp"

namespace flotilla::client {

std::string url_host(std::string_view url) {
  // libcurl's own parser: the host judged here is the one it connects to,
  // whatever userinfo, escapes or brackets the URL holds.
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), &curl_url_cleanup);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) return {};
  char* part = nullptr;
  if (curl_url_get(handle.get(), CURLUPART_HOST, &part, 0) != CURLUE_OK || part == nullptr) return {};
  std::string host(part);
  curl_free(part);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  return host;
}

namespace {
// Dotted-quad IPv4 whose first octet is 127.
bool is_ipv4_loopback(std::string_view host) {
  int octets = 0;
  std::size_t start = 0;
  while (start <= host.size()) {
    auto end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    auto part = host.substr(start, end - start);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(part)) > 255) {
      return false;
    }
    if (octets == 0 && part != "127") return false;
    ++octets;
    start = end + 1;
  }
  return octets == 4;
}
}  // namespace

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" || is_ipv4_loopback(host);
}

common::Status require_tls_unless_loopback(std::string_view url, std::string_view what) {
  if (url.starts_with("https://")) return {};
  if (url.starts_with("http://") && is_loopback_host(url_host(url))) return {};
  return common::fail(Errc::kInsecureUrl,
                      std::string(what) + ": " + std::string(url.substr(0, std::min<std::size_t>(url.size(), 200))) +
                          " is not https://; plain http:// is allowed only to this machine (localhost, 127.0.0.1, ::1)");
}

}  // namespace flotilla::client
