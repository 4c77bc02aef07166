// The database behind a test server, opened as someone with access to it
// (not through the server): for tests of what the audit chain catches
// when rows are changed underneath. The server should be stopped first.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "server/store/sql.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {

inline std::unique_ptr<server::sql::Connection> open_database_of(const ServerProcess& server) {
  auto location = server.store_location();
  auto db = server::sql::engine_of(location) == server::sql::Engine::kPostgres ? server::sql::open_postgres(location)
                                                                              : server::sql::open_sqlite(location);
  EXPECT_TRUE(db) << db.error().describe();
  return db ? std::move(*db) : nullptr;
}

// Removes the trigger that refuses UPDATE on the audit log.
inline common::Status drop_audit_update_guard(server::sql::Connection& db) {
  return db.exec(db.engine() == server::sql::Engine::kPostgres ? "DROP TRIGGER audit_log_no_change ON audit_log"
                                                               : "DROP TRIGGER audit_log_no_update");
}

}  // namespace flotilla::testing
