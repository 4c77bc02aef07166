#include <algorithm>
#include <functional>
#include <limits>

#include "server/store/schema.hpp"

namespace flotilla::server {
namespace {

common::Result<std::int64_t> read_version(sql::Connection& db, std::string_view query) {
  auto select = db.prepare(query);
  if (!select) return std::unexpected(select.error());
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  return *row ? select->int64(0) : 0;
}

// Runs migrations[from ..], each with `record` (noting the new version)
// in the same transaction.
common::Status apply(sql::Connection& db, std::span<const std::string_view> migrations, std::int64_t from,
                     const std::function<common::Status(std::int64_t)>& record) {
  if (from > static_cast<std::int64_t>(migrations.size())) {
    return common::fail(common::Errc::kDatabase, "database schema version " + std::to_string(from) +
                                                     " is newer than this program knows (" +
                                                     std::to_string(migrations.size()) + "); upgrade the program");
  }
  for (auto i = static_cast<std::size_t>(from); i < migrations.size(); ++i) {
    auto tx = sql::Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    auto context = "migration " + std::to_string(i + 1);
    if (auto ok = db.exec(migrations[i]); !ok) return std::unexpected(ok.error().with_context(context));
    if (auto ok = record(static_cast<std::int64_t>(i + 1)); !ok) return std::unexpected(ok.error().with_context(context));
    if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error().with_context(context));
  }
  return {};
}

common::Status migrate_postgres(sql::Connection& db, std::span<const std::string_view> migrations) {
  // A session lock: a second server starting meanwhile waits, then
  // finds the schema current.
  const std::string key(sql::advisory_lock::kMigrations);
  if (auto ok = db.exec("SELECT pg_advisory_lock(" + key + ")"); !ok) return ok;
  auto ok = db.exec("CREATE TABLE IF NOT EXISTS flotilla_schema (version INTEGER PRIMARY KEY)");
  if (ok) {
    auto version = read_version(db, "SELECT COALESCE(MAX(version), 0) FROM flotilla_schema");
    auto record = [&db](std::int64_t number) -> common::Status {
      auto insert = db.prepare("INSERT INTO flotilla_schema (version) VALUES (?)");
      if (!insert) return std::unexpected(insert.error());
      return insert->bind(1, number).run();
    };
    ok = version ? apply(db, migrations, *version, record) : common::Status(std::unexpected(version.error()));
  }
  (void)db.exec("SELECT pg_advisory_unlock(" + key + ")");
  return ok;
}

}  // namespace

common::Status migrate(sql::Connection& db) { return migrate_to(db, std::numeric_limits<std::size_t>::max()); }

common::Status migrate_to(sql::Connection& db, std::size_t version) {
  const bool postgres = db.engine() == sql::Engine::kPostgres;
  const auto all = postgres ? postgres_migrations() : sqlite_migrations();
  const auto migrations = all.first(std::min(version, all.size()));
  if (postgres) return migrate_postgres(db, migrations);
  auto current = read_version(db, "PRAGMA user_version");
  if (!current) return std::unexpected(current.error());
  // PRAGMA takes no parameters; the number is ours, not input.
  return apply(db, migrations, *current,
               [&db](std::int64_t number) { return db.exec("PRAGMA user_version = " + std::to_string(number)); });
}

}  // namespace flotilla::server
