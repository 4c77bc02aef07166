// SQLite, owned: RAII handles, prepared statements with typed binding, and
// numbered migrations tracked in PRAGMA user_version. The only place that
// includes sqlite3.h.
//
// A Database is used by one thread at a time (callers serialise, e.g. with
// a mutex, or keep one per thread). Every SQL text is a constant: values
// are always bound, never spliced into SQL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/rows.hpp"

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_backup;

namespace flotilla::common {

// Prepared statements by SQL text, reused instead of compiled again: the
// hot paths run the same few statements thousands of times a second.
struct StatementCache;

class Statement {
 public:
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), cache_(std::move(other.cache_)), sql_(std::move(other.sql_)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Binding is 1-based, as in SQLite. Text and blobs are copied.
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Statement& bind_blob(int index, std::span<const std::uint8_t> bytes);
  Statement& bind_null(int index);
  Statement& bind(int index, const std::optional<std::string>& text);
  Statement& bind(int index, const std::optional<std::int64_t>& value);

  // True while a row is available; false when done. Fails with kConflict
  // on a uniqueness violation, kDatabase otherwise.
  Result<bool> step();
  // Steps to completion, for statements that return no rows.
  Status run();
  // Makes the statement ready to bind and step again.
  void reset();

  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::optional<std::int64_t> optional_int64(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::shared_ptr<StatementCache> cache, std::string sql)
      : db_(db), stmt_(stmt), cache_(std::move(cache)), sql_(std::move(sql)) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;  // returned to cache_ (reset) when this is destroyed
  std::shared_ptr<StatementCache> cache_;
  std::string sql_;
};

class Database {
 public:
  // Opens (creating if needed) with WAL, synchronous=FULL, foreign keys
  // and a busy timeout.
  static Result<Database> open(const std::string& path);
  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database();

  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;

  // Applies migrations[user_version ..] in order, each in its own
  // transaction, bumping user_version with it. Refuses a database newer
  // than this code knows.
  Status migrate(std::span<const std::string_view> migrations);
  Result<std::int64_t> user_version();

 private:
  friend class OnlineCopy;
  explicit Database(sqlite3* db);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db_{nullptr, nullptr};
  std::shared_ptr<StatementCache> cache_;
};

// An online copy of a database into a new file (SQLite's backup API),
// made a few pages per step so that the source serves other work between
// steps. Writes made through the source connection between steps are
// carried into the copy, so the finished copy is the database as of the
// last step. Each step must run where the source may be used (its one
// thread at a time).
class OnlineCopy {
 public:
  // `path` must not exist.
  static Result<OnlineCopy> start(Database& source, const std::string& path);
  OnlineCopy(OnlineCopy&& other) noexcept;
  OnlineCopy& operator=(OnlineCopy&&) = delete;
  ~OnlineCopy();
  // Copies up to `pages` more pages; true when the copy is complete (and
  // its file closed and synced).
  Result<bool> step(int pages);
  int pages_left() const { return left_; }
  int pages_total() const { return total_; }

 private:
  OnlineCopy(sqlite3* destination, sqlite3_backup* backup, std::string path)
      : destination_(destination), backup_(backup), path_(std::move(path)) {}
  sqlite3* destination_ = nullptr;
  sqlite3_backup* backup_ = nullptr;
  std::string path_;
  int left_ = 0;
  int total_ = 0;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace flotilla::common
