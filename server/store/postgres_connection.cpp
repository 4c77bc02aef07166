// sql::Connection over PostgreSQL through libpq: the only file that
// includes libpq-fe.h.
//
// Statements are prepared on the server once per connection (by SQL text)
// and run with text-format values; PostgreSQL infers each parameter's
// type from where it is used. Results are read whole: the store's queries
// are paged, so a result is at most a page.
#include <libpq-fe.h>

#include <charconv>
#include <unordered_map>
#include <vector>

#include "server/store/sql.hpp"

namespace flotilla::server::sql {
namespace {

constexpr Oid kBoolOid = 16;
// One writer at a time across every server on the database.
const std::string kBeginWrite = "BEGIN; SELECT pg_advisory_xact_lock(" + std::string(advisory_lock::kWriters) + ")";

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// SQLite's placeholders as PostgreSQL's: "?N" → "$N", and a bare "?" →
// one more than the highest number so far (SQLite's rule). Quoted text
// and identifiers are copied unchanged.
struct Translated {
  std::string sql;
  int parameters = 0;
};

Translated to_dollar_placeholders(std::string_view sql) {
  Translated out;
  out.sql.reserve(sql.size() + 8);
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      out.sql.push_back(c);
      if (c == quote) quote = 0;  // a doubled quote reopens at once: same result
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out.sql.push_back(c);
      continue;
    }
    if (c != '?') {
      out.sql.push_back(c);
      continue;
    }
    std::size_t digits = i + 1;
    while (digits < sql.size() && sql[digits] >= '0' && sql[digits] <= '9') ++digits;
    int number = 0;
    if (digits > i + 1) {
      std::from_chars(sql.data() + i + 1, sql.data() + digits, number);
      i = digits - 1;
    } else {
      number = out.parameters + 1;
    }
    out.parameters = std::max(out.parameters, number);
    out.sql += "$" + std::to_string(number);
  }
  return out;
}

class PgConnection;

class PgStatement final : public Statement::Impl {
 public:
  PgStatement(PgConnection& connection, const std::string& name, int parameters)
      : connection_(connection), name_(name), values_(static_cast<std::size_t>(parameters)),
        formats_(static_cast<std::size_t>(parameters), 0) {}

  void bind_int64(int index, std::int64_t value) override { set(index, std::to_string(value), 0); }
  void bind_text(int index, std::string_view text) override { set(index, std::string(text), 0); }
  void bind_blob(int index, std::span<const std::uint8_t> bytes) override {
    set(index, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), 1);
  }
  void bind_null(int index) override {
    if (index >= 1 && static_cast<std::size_t>(index) <= values_.size()) values_[static_cast<std::size_t>(index - 1)].reset();
  }
  common::Result<bool> step() override;
  void reset() override {
    result_.reset();
    row_ = -1;
    for (auto& v : values_) v.reset();
  }
  bool is_null(int column) const override { return PQgetisnull(result_.get(), row_, column) != 0; }
  std::int64_t int64(int column) const override {
    if (is_null(column)) return 0;
    const char* value = PQgetvalue(result_.get(), row_, column);
    if (PQftype(result_.get(), column) == kBoolOid) return value[0] == 't' ? 1 : 0;
    std::int64_t out = 0;
    std::from_chars(value, value + PQgetlength(result_.get(), row_, column), out);
    return out;
  }
  std::string text(int column) const override {
    return std::string(PQgetvalue(result_.get(), row_, column),
                       static_cast<std::size_t>(PQgetlength(result_.get(), row_, column)));
  }

 private:
  void set(int index, std::string value, int format) {
    if (index < 1 || static_cast<std::size_t>(index) > values_.size()) return;  // like SQLite: out of range is ignored
    values_[static_cast<std::size_t>(index - 1)] = std::move(value);
    formats_[static_cast<std::size_t>(index - 1)] = format;
  }

  PgConnection& connection_;
  std::string name_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
  PgResult result_;
  int row_ = -1;
};

class PgConnection final : public Connection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }

  Engine engine() const override { return Engine::kPostgres; }

  common::Result<Statement> prepare(std::string_view sql) override {
    std::string key(sql);
    auto it = prepared_.find(key);
    if (it == prepared_.end()) {
      auto translated = to_dollar_placeholders(sql);
      std::string name = "flotilla_" + std::to_string(prepared_.size() + 1);
      PgResult result(PQprepare(conn_, name.c_str(), translated.sql.c_str(), 0, nullptr));
      if (auto ok = check(result.get(), "preparing statement"); !ok) return std::unexpected(ok.error());
      it = prepared_.emplace(std::move(key), Prepared{std::move(name), translated.parameters}).first;
    }
    return Statement(std::make_unique<PgStatement>(*this, it->second.name, it->second.parameters));
  }

  common::Status exec(std::string_view sql) override {
    PgResult result(PQexec(conn_, std::string(sql).c_str()));
    return check(result.get(), "executing SQL");
  }

  std::int64_t changes() const override { return changes_; }

  common::Status begin_write() override { return exec(kBeginWrite); }
  // REPEATABLE READ: every statement sees the snapshot of the first.
  common::Status begin_read() override { return exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); }
  common::Status commit() override {
    PgResult result(PQexec(conn_, "COMMIT"));
    if (auto ok = check(result.get(), "committing"); !ok) return ok;
    // A transaction that failed earlier "commits" as a ROLLBACK.
    if (std::string_view(PQcmdStatus(result.get())) != "COMMIT") {
      return common::fail(common::Errc::kDatabase, "the transaction was rolled back");
    }
    return {};
  }
  void rollback() override { PgResult(PQexec(conn_, "ROLLBACK")); }

  bool broken() const override { return PQstatus(conn_) != CONNECTION_OK; }

  std::string json_text_member(std::string_view json_sql, std::string_view key_sql) const override {
    return "(CAST(" + std::string(json_sql) + " AS jsonb) ->> CAST(" + std::string(key_sql) + " AS text))";
  }
  std::string_view string_agg() const override { return "string_agg"; }

  // Runs a prepared statement; kept here so errors are read from one place.
  common::Result<PgResult> run_prepared(const std::string& name, const std::vector<std::optional<std::string>>& values,
                                        const std::vector<int>& formats) {
    std::vector<const char*> pointers(values.size());
    std::vector<int> lengths(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      pointers[i] = values[i] ? values[i]->data() : nullptr;
      lengths[i] = values[i] ? static_cast<int>(values[i]->size()) : 0;
    }
    PgResult result(PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()), pointers.data(), lengths.data(),
                                   formats.data(), 0));
    if (auto ok = check(result.get(), "executing statement"); !ok) return std::unexpected(ok.error());
    const char* tuples = PQcmdTuples(result.get());
    changes_ = 0;
    std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), changes_);
    return result;
  }

 private:
  struct Prepared {
    std::string name;
    int parameters = 0;
  };

  // A uniqueness, foreign-key or check violation (SQLSTATE class 23) is
  // kConflict, as SQLite's constraint errors are; a lost connection, a
  // database shutting down or out of connections is kUnavailable (a
  // client may retry; the pool reconnects); anything else kDatabase.
  common::Status check(PGresult* result, std::string_view what) const {
    auto status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return {};
    std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    if (message.empty()) message = PQerrorMessage(conn_);
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string text = std::string(what) + ": " + message;
    std::string_view sqlstate = state != nullptr ? state : "";
    if (sqlstate.starts_with("23")) return common::fail(common::Errc::kConflict, text);
    if (broken()) return common::fail(common::Errc::kUnavailable, text + " (lost the connection to PostgreSQL)");
    if (sqlstate.starts_with("08") || sqlstate.starts_with("57P") || sqlstate == "53300") {
      return common::fail(common::Errc::kUnavailable, text);
    }
    return common::fail(common::Errc::kDatabase, text);
  }

  PGconn* conn_;
  std::unordered_map<std::string, Prepared> prepared_;
  std::int64_t changes_ = 0;
};

common::Result<bool> PgStatement::step() {
  if (!result_) {
    auto result = connection_.run_prepared(name_, values_, formats_);
    if (!result) return std::unexpected(result.error());
    result_ = std::move(*result);
    row_ = -1;
  }
  return ++row_ < PQntuples(result_.get());
}

}  // namespace

common::Result<std::unique_ptr<Connection>> open_postgres(const std::string& conninfo) {
  // Defaults first: the connection string given (expanded from dbname)
  // overrides any of them. Keepalives let a server notice a dead database
  // host within seconds; the database notices a vanished server only by
  // its own tcp_keepalives_* settings (docs/scale-out.md).
  const char* keywords[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                            "keepalives_count", "application_name", "client_encoding", "dbname", nullptr};
  const char* values[] = {"10", "1", "10", "5", "3", "flotilla-server", "UTF8", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  if (conn == nullptr) return common::fail(common::Errc::kDatabase, "connecting to PostgreSQL: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return common::fail(common::Errc::kUnavailable, "connecting to PostgreSQL (" + redacted(conninfo) + "): " + message);
  }
  auto connection = std::make_unique<PgConnection>(conn);
  // The store compares timestamps and ids as text, byte by byte (as SQLite
  // does); its columns say COLLATE "C", and no session setting changes it.
  if (auto ok = connection->exec("SET client_min_messages = warning"); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace flotilla::server::sql
