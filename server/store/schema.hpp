// Numbered schema migrations of the server database, one list per engine,
// kept in step: migration N makes the same tables and columns in both.
// Append only: a released migration is never edited.
#pragma once

#include <span>
#include <string_view>

#include "server/store/sql.hpp"

namespace flotilla::server {

std::span<const std::string_view> sqlite_migrations();
std::span<const std::string_view> postgres_migrations();

// Applies the migrations `db` has not had yet, each in its own
// transaction, and refuses a database newer than this program. SQLite
// counts in PRAGMA user_version; PostgreSQL in the table flotilla_schema,
// under an advisory lock, so servers starting together migrate once.
common::Status migrate(sql::Connection& db);
// The same, up to schema `version` only: the database an earlier release
// made, for the upgrade tests.
common::Status migrate_to(sql::Connection& db, std::size_t version);

}  // namespace flotilla::server
