#include "server/store/sql.hpp"

namespace flotilla::server::sql {

common::Status Statement::run() {
  for (;;) {
    auto more = step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
  }
}

common::Result<std::int64_t> Statement::run_returning_int64() {
  auto row = step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "the statement returned no row");
  std::int64_t value = int64(0);
  // A write with RETURNING is finished only when stepped to its end.
  if (auto ok = run(); !ok) return std::unexpected(ok.error());
  return value;
}

common::Result<Transaction> Transaction::begin(Connection& db) {
  if (auto ok = db.begin_write(); !ok) return std::unexpected(ok.error());
  return Transaction(&db);
}

common::Status Transaction::commit() {
  auto ok = db_->commit();
  db_ = nullptr;  // committed, or rolled back by the failed commit
  return ok;
}

common::Result<ReadSnapshot> ReadSnapshot::begin(Connection& db) {
  if (auto ok = db.begin_read(); !ok) return std::unexpected(ok.error());
  return ReadSnapshot(&db);
}

Engine engine_of(std::string_view location) {
  return location.starts_with("postgres://") || location.starts_with("postgresql://") ? Engine::kPostgres
                                                                                       : Engine::kSqlite;
}

std::string sqlite_path_of(std::string_view location) {
  if (location.starts_with("sqlite:")) location.remove_prefix(7);
  return std::string(location);
}

std::string redacted(std::string_view location) {
  if (engine_of(location) != Engine::kPostgres) return std::string(location);
  // postgres://user:password@host/...: the password sits between the
  // first ':' after the scheme and the '@' of the authority.
  auto scheme_end = location.find("://") + 3;
  auto at = location.find('@', scheme_end);
  auto slash = location.find('/', scheme_end);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return std::string(location);
  auto colon = location.find(':', scheme_end);
  if (colon == std::string_view::npos || colon > at) return std::string(location);
  return std::string(location.substr(0, colon + 1)) + "***" + std::string(location.substr(at));
}

common::Result<std::unique_ptr<Connection::Copy>> Connection::start_copy(const std::string&) {
  return common::fail(common::Errc::kBadField,
                      "a PostgreSQL store is backed up with pg_dump, not by flotilla-server (docs/operations.md)");
}

}  // namespace flotilla::server::sql
