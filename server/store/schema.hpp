// Numbered schema migrations of the server database (PRAGMA user_version).
// Append only: a released migration is never edited.
#pragma once

#include <span>
#include <string_view>

namespace flotilla::server {

std::span<const std::string_view> server_migrations();

}  // namespace flotilla::server
