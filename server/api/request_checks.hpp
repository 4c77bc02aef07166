// What every request must satisfy before any route sees it: size limits a
// front proxy would also enforce, and text that is what it claims to be.
// A handler copies query values and headers into JSON, CSV and SQL; a
// byte that is not UTF-8 there made nlohmann's dump() throw mid-report (a
// 500 and an export file left behind per request), so such input is
// refused here, once, for every route.
#pragma once

#include <optional>

#include "server/http/types.hpp"

namespace flotilla::server::api {

// Headers some handler reads; others pass through unread and unchecked.
inline constexpr const char* kReadHeaders[] = {"Authorization", "X-Flotilla-Key-Id", "X-Flotilla-Signature", "X-Flotilla-Client-Verify", "X-Flotilla-Client-Subject",
                                               "Range",         "If-Range",          "If-None-Match"};

// A 400 problem naming the part at fault (the path, the query parameter
// by name when its name is plain, the header), or nullopt when the
// request may be routed. Never echoes the offending bytes.
std::optional<http::Response> refuse_malformed_request(const http::Request& request);

}  // namespace flotilla::server::api
