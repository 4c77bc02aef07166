#include "client/url_rules.hpp"

#include <algorithm>
#include <cctype>

namespace flotilla::client {

std::string url_host(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  auto authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view host;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    host = authority.substr(1, close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
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
  return common::fail(common::Errc::kBadField,
                      std::string(what) + ": " + std::string(url.substr(0, std::min<std::size_t>(url.size(), 200))) +
                          " is not https://; plain http:// is allowed only to this machine (localhost, 127.0.0.1, ::1)");
}

}  // namespace flotilla::client
