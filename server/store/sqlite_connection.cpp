// sql::Connection over SQLite (common/sqlite.hpp, the only SQLite code).
#include "common/sqlite.hpp"
#include "server/store/sql.hpp"

namespace flotilla::server::sql {
namespace {

class SqliteStatement final : public Statement::Impl {
 public:
  explicit SqliteStatement(common::Statement statement) : statement_(std::move(statement)) {}
  void bind_int64(int index, std::int64_t value) override { statement_.bind(index, value); }
  void bind_text(int index, std::string_view text) override { statement_.bind(index, text); }
  void bind_blob(int index, std::span<const std::uint8_t> bytes) override { statement_.bind_blob(index, bytes); }
  void bind_null(int index) override { statement_.bind_null(index); }
  common::Result<bool> step() override { return statement_.step(); }
  void reset() override { statement_.reset(); }
  bool is_null(int column) const override { return statement_.is_null(column); }
  std::int64_t int64(int column) const override { return statement_.int64(column); }
  std::string text(int column) const override { return statement_.text(column); }

 private:
  common::Statement statement_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(common::Database db) : db_(std::move(db)) {}
  Engine engine() const override { return Engine::kSqlite; }
  common::Result<Statement> prepare(std::string_view sql) override {
    auto statement = db_.prepare(sql);
    if (!statement) return std::unexpected(statement.error());
    return Statement(std::make_unique<SqliteStatement>(std::move(*statement)));
  }
  common::Status exec(std::string_view sql) override { return db_.exec(sql); }
  std::int64_t changes() const override { return db_.changes(); }
  // IMMEDIATE takes the write lock at once, so a transaction never fails
  // half-way for want of it.
  common::Status begin_write() override { return db_.exec("BEGIN IMMEDIATE"); }
  common::Status begin_read() override { return db_.exec("BEGIN"); }
  common::Status commit() override {
    auto ok = db_.exec("COMMIT");
    if (!ok) rollback();
    return ok;
  }
  void rollback() override { (void)db_.exec("ROLLBACK"); }
  std::string json_text_member(std::string_view json_sql, std::string_view key_sql) const override {
    return "json_extract(" + std::string(json_sql) + ", '$.' || json_quote(" + std::string(key_sql) + "))";
  }
  std::string_view string_agg() const override { return "group_concat"; }
  common::Result<std::unique_ptr<Copy>> start_copy(const std::string& path) override {
    auto copy = common::OnlineCopy::start(db_, path);
    if (!copy) return std::unexpected(copy.error());
    return std::unique_ptr<Copy>(new SqliteCopy(std::move(*copy)));
  }

 private:
  class SqliteCopy final : public Copy {
   public:
    explicit SqliteCopy(common::OnlineCopy copy) : copy_(std::move(copy)) {}
    common::Result<bool> step(int pages) override { return copy_.step(pages); }
    int pages_left() const override { return copy_.pages_left(); }
    int pages_total() const override { return copy_.pages_total(); }

   private:
    common::OnlineCopy copy_;
  };
  common::Database db_;
};

}  // namespace

common::Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path) {
  auto db = common::Database::open(path);
  if (!db) return std::unexpected(db.error());
  // One server process owns its database: exclusive locking keeps the WAL
  // index in process memory and saves two file-lock syscalls per query.
  // (Several servers share a fleet through PostgreSQL, not SQLite.)
  if (auto ok = db->exec("PRAGMA locking_mode=EXCLUSIVE"); !ok) return std::unexpected(ok.error().with_context(path));
  return std::unique_ptr<Connection>(new SqliteConnection(std::move(*db)));
}

}  // namespace flotilla::server::sql
