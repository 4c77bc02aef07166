// Where the agent may talk without TLS (DESIGN.md §5): plain http:// only
// to this machine, whose traffic never leaves it. No I/O: URLs are read by
// libcurl's parser, so the config parser and the transport share them.
#pragma once

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace flotilla::client {

// The host of an http:// or https:// URL, lower-cased, without brackets,
// userinfo or port; empty when there is none.
std::string url_host(std::string_view url);

// localhost, 127.0.0.0/8 or ::1.
bool is_loopback_host(std::string_view host);

// https:// to anywhere, http:// to loopback only. `what` names the URL in
// the error (a config field, "the server's download URL", ...).
common::Status require_tls_unless_loopback(std::string_view url, std::string_view what);

}  // namespace flotilla::client
