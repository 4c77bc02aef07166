// The store's view of a SQL database, the same for SQLite and PostgreSQL:
// connections, prepared statements with typed binding, transactions.
//
// The store's SQL is written once, in the subset both engines accept:
// placeholders `?` and `?N` (PostgreSQL's adapter turns them into `$N`),
// INSERT ... RETURNING, ON CONFLICT, CAST. The two places where the
// engines differ (reading a JSON member, aggregating strings) ask the
// connection. Values are always bound, never spliced into SQL.
//
// A Connection and its Statements are used by one thread at a time; a
// ConnectionPool (sql_pool.hpp) hands them out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/rows.hpp"

namespace flotilla::server::sql {

enum class Engine { kSqlite, kPostgres };

// The PostgreSQL advisory locks of the store, as the two-integer keys
// SQL takes: (space "Flot", number).
namespace advisory_lock {
inline constexpr std::string_view kSchedulerLease = "1181511540, 1";  // session: the scheduling server
inline constexpr std::string_view kWriters = "1181511540, 2";         // transaction: one writer at a time
inline constexpr std::string_view kMigrations = "1181511540, 3";      // session: one server migrates
}  // namespace advisory_lock

// A prepared statement: bind (1-based), step through rows, read columns
// (0-based). Destroying it makes it reusable by its connection.
class Statement {
 public:
  class Impl {
   public:
    virtual ~Impl() = default;
    virtual void bind_int64(int index, std::int64_t value) = 0;
    virtual void bind_text(int index, std::string_view text) = 0;
    virtual void bind_blob(int index, std::span<const std::uint8_t> bytes) = 0;
    virtual void bind_null(int index) = 0;
    // Runs the statement on the first call; true while a row is available.
    virtual common::Result<bool> step() = 0;
    virtual void reset() = 0;
    virtual bool is_null(int column) const = 0;
    // 0 for NULL; a boolean column reads as 0 or 1.
    virtual std::int64_t int64(int column) const = 0;
    virtual std::string text(int column) const = 0;
  };

  explicit Statement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

  Statement& bind(int index, std::int64_t value) { impl_->bind_int64(index, value); return *this; }
  Statement& bind(int index, std::string_view text) { impl_->bind_text(index, text); return *this; }
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind_null(index);
  }
  Statement& bind(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
  }
  Statement& bind_blob(int index, std::span<const std::uint8_t> bytes) { impl_->bind_blob(index, bytes); return *this; }
  Statement& bind_null(int index) { impl_->bind_null(index); return *this; }

  // True while a row is available; false when done. Fails with kConflict
  // when a write breaks a constraint, kUnavailable when the database cannot
  // be reached or is busy past its timeout, kDatabase otherwise.
  common::Result<bool> step() { return impl_->step(); }
  // Steps to completion, for statements that return no rows.
  common::Status run();
  // Steps to completion and returns column 0 of the first row (kNotFound
  // without one): for INSERT ... RETURNING id.
  common::Result<std::int64_t> run_returning_int64();
  // Ready to bind and step again.
  void reset() { impl_->reset(); }

  bool is_null(int column) const { return impl_->is_null(column); }
  std::int64_t int64(int column) const { return impl_->int64(column); }
  std::string text(int column) const { return impl_->text(column); }
  std::optional<std::string> optional_text(int column) const {
    return is_null(column) ? std::nullopt : std::optional<std::string>(text(column));
  }
  std::optional<std::int64_t> optional_int64(int column) const {
    return is_null(column) ? std::nullopt : std::optional<std::int64_t>(int64(column));
  }

 private:
  std::unique_ptr<Impl> impl_;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Engine engine() const = 0;

  // Prepared once per connection and SQL text, then reused.
  virtual common::Result<Statement> prepare(std::string_view sql) = 0;
  // One or more statements without parameters (schema scripts).
  virtual common::Status exec(std::string_view sql) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE run here.
  virtual std::int64_t changes() const = 0;

  // A write transaction. Writers are serialised store-wide, as SQLite's
  // single writer is: PostgreSQL takes one advisory lock for it, shared by
  // every server on the database, so the audit chain is appended by one
  // writer at a time and never forks.
  virtual common::Status begin_write() = 0;
  // A consistent snapshot for several reads.
  virtual common::Status begin_read() = 0;
  // Fails (and nothing is kept) when the transaction did not commit.
  virtual common::Status commit() = 0;
  virtual void rollback() = 0;

  // The connection is lost; its pool replaces it.
  virtual bool broken() const { return false; }

  // SQL fragments that differ between engines.
  // The string member `key_sql` of the JSON object text in `json_sql`
  // (NULL when missing or not a string).
  virtual std::string json_text_member(std::string_view json_sql, std::string_view key_sql) const = 0;
  // The aggregate joining strings with a separator: f(value, separator).
  virtual std::string_view string_agg() const = 0;

  // An online copy of the whole database into the new file `path`, a few
  // pages per step (common::OnlineCopy); SQLite only: a PostgreSQL
  // database is copied with its own tools (docs/operations.md).
  class Copy {
   public:
    virtual ~Copy() = default;
    // True when complete. Runs on this connection: call it under a lease.
    virtual common::Result<bool> step(int pages) = 0;
    virtual int pages_left() const = 0;
    virtual int pages_total() const = 0;
  };
  virtual common::Result<std::unique_ptr<Copy>> start_copy(const std::string& path);
};

// A write transaction: begun on construction, rolled back unless
// commit() succeeded.
class Transaction {
 public:
  static common::Result<Transaction> begin(Connection& db);
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (db_ != nullptr) db_->rollback();
  }
  common::Status commit();

 private:
  explicit Transaction(Connection* db) : db_(db) {}
  Connection* db_;
};

// Several reads that see one state of the database.
class ReadSnapshot {
 public:
  static common::Result<ReadSnapshot> begin(Connection& db);
  ReadSnapshot(ReadSnapshot&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  ReadSnapshot& operator=(ReadSnapshot&&) = delete;
  ~ReadSnapshot() {
    if (db_ != nullptr) db_->rollback();
  }

 private:
  explicit ReadSnapshot(Connection* db) : db_(db) {}
  Connection* db_;
};

// Opens SQLite at `path` (created if missing) with WAL, synchronous=FULL
// and exclusive locking: one server process owns the file.
common::Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path);

// Connects to PostgreSQL with a libpq URI or key=value string. Defaults
// (connect_timeout 10 s, TCP keepalives) apply unless `conninfo` sets
// them.
common::Result<std::unique_ptr<Connection>> open_postgres(const std::string& conninfo);

// The engine a store location names: "postgres://..." or
// "postgresql://..." is PostgreSQL; anything else is a SQLite file path
// (an optional "sqlite:" prefix is dropped).
Engine engine_of(std::string_view location);
std::string sqlite_path_of(std::string_view location);
// A location fit for logs and errors: a PostgreSQL password is masked.
std::string redacted(std::string_view location);

}  // namespace flotilla::server::sql
