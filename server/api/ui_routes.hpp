// Serves the operator dashboard (server/ui/) at /ui/: static files from
// the compiled-in table, with the headers that keep a page holding an
// operator's token safe (no inline script, no framing, no sniffing).
#pragma once

#include "server/http/types.hpp"

namespace flotilla::server::api {

// True for the paths the dashboard answers: "/", "/ui" and "/ui/...".
bool is_ui_path(const std::string& path);
http::Response serve_ui(const http::Request& request);

}  // namespace flotilla::server::api
