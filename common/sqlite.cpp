#include "common/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace flotilla::common {
namespace {

std::unexpected<Error> db_error(sqlite3* db, std::string_view what) {
  int code = sqlite3_extended_errcode(db);
  std::string message = std::string(what) + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return fail(Errc::kConflict, message);
  // Another process held the file past the busy timeout: worth a retry.
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return fail(Errc::kUnavailable, message);
  return fail(Errc::kDatabase, message);
}

}  // namespace

struct StatementCache {
  std::unordered_multimap<std::string, sqlite3_stmt*> idle;
  ~StatementCache() {
    for (auto& [sql, stmt] : idle) sqlite3_finalize(stmt);
  }
};

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  if (cache_) {
    cache_->idle.emplace(std::move(sql_), stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::bind_blob(int index, std::span<const std::uint8_t> bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(db_, "executing statement");
}

Status Statement::run() {
  for (;;) {
    auto more = step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string();
}

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

std::optional<std::int64_t> Statement::optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

Database::Database(sqlite3* db) : db_(db, &sqlite3_close_v2), cache_(std::make_shared<StatementCache>()) {}
Database::~Database() {
  // Idle statements must be finalized before the connection closes.
  cache_.reset();
}

Result<Database> Database::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) return db_error(raw, "opening " + path);
  sqlite3_busy_timeout(raw, 5000);
  // WAL lets readers run beside the writer; FULL makes an acknowledged
  // commit survive a power cut.
  if (auto ok = db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
      !ok) {
    return std::unexpected(ok.error().with_context(path));
  }
  return db;
}

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string reason = message ? message : "unknown error";
    sqlite3_free(message);
    return db_error(db_.get(), "executing SQL (" + reason + ")");
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  std::string text(sql);
  if (auto it = cache_->idle.find(text); it != cache_->idle.end()) {
    sqlite3_stmt* stmt = it->second;
    cache_->idle.erase(it);
    return Statement(db_.get(), stmt, cache_, std::move(text));
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return db_error(db_.get(), "preparing statement");
  }
  return Statement(db_.get(), stmt, cache_, std::move(text));
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
std::int64_t Database::changes() const { return sqlite3_changes64(db_.get()); }

Result<std::int64_t> Database::user_version() {
  auto stmt = prepare("PRAGMA user_version");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return std::unexpected(row.error());
  return stmt->int64(0);
}

Status Database::migrate(std::span<const std::string_view> migrations) {
  auto version = user_version();
  if (!version) return std::unexpected(version.error());
  if (*version > static_cast<std::int64_t>(migrations.size())) {
    return fail(Errc::kDatabase, "database schema version " + std::to_string(*version) +
                                     " is newer than this program knows (" +
                                     std::to_string(migrations.size()) + "); upgrade the program");
  }
  for (auto i = static_cast<std::size_t>(*version); i < migrations.size(); ++i) {
    auto tx = Transaction::begin(*this);
    if (!tx) return std::unexpected(tx.error());
    if (auto ok = exec(migrations[i]); !ok) {
      return std::unexpected(ok.error().with_context("migration " + std::to_string(i + 1)));
    }
    if (auto ok = exec("PRAGMA user_version = " + std::to_string(i + 1)); !ok) return ok;
    if (auto ok = tx->commit(); !ok) return ok;
  }
  return {};
}

Result<Transaction> Transaction::begin(Database& db) {
  if (auto ok = db.exec("BEGIN IMMEDIATE"); !ok) return std::unexpected(ok.error());
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  auto ok = db_->exec("COMMIT");
  if (ok) db_ = nullptr;
  return ok;
}

Result<OnlineCopy> OnlineCopy::start(Database& source, const std::string& path) {
  // Created here, exclusively: SQLite would open an existing file and
  // copy over it. An empty file is an empty database.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Errc::kIo, "cannot create " + path + ": " + std::strerror(errno));
  ::close(fd);
  sqlite3* destination = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &destination, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    auto failed = db_error(destination, "creating " + path);
    sqlite3_close_v2(destination);
    return failed;
  }
  sqlite3_backup* backup = sqlite3_backup_init(destination, "main", source.db_.get(), "main");
  if (backup == nullptr) {
    auto failed = db_error(destination, "starting a copy into " + path);
    sqlite3_close_v2(destination);
    return failed;
  }
  return OnlineCopy(destination, backup, path);
}

OnlineCopy::OnlineCopy(OnlineCopy&& other) noexcept
    : destination_(std::exchange(other.destination_, nullptr)),
      backup_(std::exchange(other.backup_, nullptr)),
      path_(std::move(other.path_)),
      left_(other.left_),
      total_(other.total_) {}

OnlineCopy::~OnlineCopy() {
  if (backup_ != nullptr) sqlite3_backup_finish(backup_);
  if (destination_ != nullptr) sqlite3_close_v2(destination_);
}

Result<bool> OnlineCopy::step(int pages) {
  if (backup_ == nullptr) return true;
  int rc = sqlite3_backup_step(backup_, pages);
  left_ = sqlite3_backup_remaining(backup_);
  total_ = sqlite3_backup_pagecount(backup_);
  if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return false;  // more to copy, or try again
  sqlite3_backup_finish(std::exchange(backup_, nullptr));
  if (rc != SQLITE_DONE) return db_error(destination_, "copying into " + path_);
  // The copy is a database of its own: journal mode WAL like its source,
  // everything on disk before it is called done.
  char* message = nullptr;
  if (sqlite3_exec(destination_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return db_error(destination_, "finishing the copy " + path_);
  }
  sqlite3_close_v2(std::exchange(destination_, nullptr));
  return true;
}

}  // namespace flotilla::common
