#include "server/store/sql_store.hpp"

#include <thread>

#include "common/log.hpp"
#include "server/errors.hpp"
#include "server/store/schema.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

TokenRecord token_from_row(const sql::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.text(3), row.optional_text(4), row.int64(5) != 0};
}

constexpr std::string_view kBundleColumns =
    "file_sha256, bundle_id, name, kind, component, version, security_version, size, manifest_json, "
    "signer_keyids, uploaded_at, uploaded_by";

BundleRecord bundle_from_row(const sql::Statement& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3), row.text(4),  row.text(5),
          row.int64(6), row.int64(7), row.text(8), row.text(9), row.text(10), row.text(11)};
}

}  // namespace

Result<std::unique_ptr<SqlStore>> SqlStore::open(const std::string& location, Clock clock, std::size_t connections) {
  sql::ConnectionPool::Factory factory;
  if (sql::engine_of(location) == sql::Engine::kPostgres) {
    factory = [location] { return sql::open_postgres(location); };
  } else {
    factory = [path = sql::sqlite_path_of(location)] { return sql::open_sqlite(path); };
    connections = 1;  // the file is opened in exclusive mode
  }
  auto pool = sql::ConnectionPool::open(factory, connections);
  if (!pool) return std::unexpected(pool.error().with_context(sql::redacted(location)));
  {
    auto db = (*pool)->acquire();
    if (auto ok = migrate(*db); !ok) return std::unexpected(ok.error().with_context(sql::redacted(location)));
  }
  return std::unique_ptr<SqlStore>(new SqlStore(std::move(*pool), std::move(factory), std::move(clock)));
}

SqlStore::SqlStore(std::unique_ptr<sql::ConnectionPool> pool, sql::ConnectionPool::Factory factory, Clock clock)
    : pool_(std::move(pool)),
      factory_(std::move(factory)),
      shared_(pool_->engine() == sql::Engine::kPostgres),
      clock_(std::move(clock)) {}

SqlStore::~SqlStore() {
  auto db = pool_->acquire();
  (void)flush_batched(*db);
}

Status SqlStore::in_transaction(Db& db, const AuditDraft& audit, const std::function<Status()>& body, Change change) {
  auto tx = sql::Transaction::begin(db);
  if (!tx) return std::unexpected(tx.error());
  if (auto ok = body(); !ok) return ok;
  if (auto entry = append_audit_locked(db, audit); !entry) return std::unexpected(entry.error());
  return change == Change::kScheduling ? commit_change(db, *tx) : tx->commit();
}

Status SqlStore::commit_change(Db& db, sql::Transaction& tx) {
  if (auto ok = tx.commit(); !ok) return ok;
  if (!shared_) {
    ++generation_;
    return {};
  }
  // Sequences ignore transactions: bumped inside one, the scheduler could
  // see the new number before the write it stands for.
  if (auto ok = db.exec("SELECT nextval('store_changes')"); !ok) {
    // The write stands; the scheduler sees it at its heartbeat instead.
    common::log(common::LogLevel::kWarn, "noting a change for the scheduler: " + ok.error().describe());
  }
  return {};
}

std::int64_t SqlStore::change_generation() {
  if (!shared_) return generation_.load();
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT last_value FROM store_changes");
  if (!select) return -1;
  auto row = select->step();
  return row && *row ? select->int64(0) : -1;
}

Result<bool> SqlStore::hold_scheduler_lease() {
  if (!shared_) return true;
  std::lock_guard lock(lease_mutex_);
  // Held: the session lock lasts as long as the connection, which a
  // statement proves alive (a dead one is found by using it).
  if (lease_pid_ != 0 && lease_connection_ && lease_connection_->exec("SELECT 1")) return true;
  if (lease_pid_ != 0) common::log(common::LogLevel::kWarn, "scheduler: lost the connection that held the scheduler lease");
  lease_pid_ = 0;
  if (!lease_connection_ || lease_connection_->broken()) {
    auto opened = factory_();
    if (!opened) return std::unexpected(opened.error());
    lease_connection_ = std::move(*opened);
  }
  auto take = lease_connection_->prepare("SELECT pg_try_advisory_lock(" + std::string(sql::advisory_lock::kSchedulerLease) +
                                         "), pg_backend_pid()");
  if (!take) return std::unexpected(take.error());
  auto row = take->step();
  if (!row) return std::unexpected(row.error());
  if (!*row || take->int64(0) == 0) return false;
  lease_pid_ = take->int64(1);
  return true;
}

Status SqlStore::copy_to(const std::string& path, const std::function<void(int, int)>& progress) {
  // 256 pages (1 MiB) per step: a poll waits at most one step's copy.
  constexpr int kPagesPerStep = 256;
  std::unique_ptr<sql::Connection::Copy> copy;
  {
    auto db = pool_->acquire();
    // Batched last_seen and offer marks are part of what is copied.
    if (auto ok = flush_batched(*db); !ok) return ok;
    auto started = db->start_copy(path);
    if (!started) return std::unexpected(started.error());
    copy = std::move(*started);
  }
  for (;;) {
    Result<bool> done = false;
    {
      auto db = pool_->acquire();
      done = copy->step(kPagesPerStep);
    }
    if (!done) return std::unexpected(done.error());
    if (progress) progress(copy->pages_total() - copy->pages_left(), copy->pages_total());
    if (*done) return {};
    std::this_thread::yield();
  }
}

Status SqlStore::check_scheduler_lease(Db& db) {
  if (!shared_) return {};
  // The lease is a lock of another connection: the pass's transaction
  // asks the database whether that session still holds it, so a server
  // that lost it (its connection died, another server took over) cannot
  // apply a pass it computed before.
  auto pid = lease_pid_.load();
  if (pid != 0) {
    auto held = db.prepare(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 1181511540 AND objid = 1 AND objsubid = 2 "
        "AND granted AND pid = CAST(? AS INTEGER)");
    if (!held) return std::unexpected(held.error());
    held->bind(1, pid);
    auto row = held->step();
    if (!row) return std::unexpected(row.error());
    if (*row) return {};
  }
  return common::fail(Errc::kNotScheduler, "this server does not hold the scheduler lease");
}

Result<signing::AuditEntry> SqlStore::append_audit_locked(Db& db, const AuditDraft& audit) {
  signing::AuditEntry entry{.time = common::format_rfc3339(clock_()),
                            .actor = audit.actor,
                            .action = audit.action,
                            .object = audit.object,
                            .outcome = audit.outcome,
                            .details = audit.details,
                            .prev_hash = signing::kGenesisHash};
  // Inside a write transaction: the one writer of the whole store, so the
  // last entry read here is still the last one at the insert.
  auto last = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!last) return std::unexpected(last.error());
  auto row = last->step();
  if (!row) return std::unexpected(row.error());
  if (*row) {
    entry.seq = last->int64(0) + 1;
    entry.prev_hash = last->text(1);
  } else {
    entry.seq = 1;
  }
  if (auto ok = signing::seal(entry); !ok) return std::unexpected(ok.error());
  auto insert = db.prepare(
      "INSERT INTO audit_log (seq, time, actor, action, object, outcome, details, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, entry.seq).bind(2, entry.time).bind(3, entry.actor).bind(4, entry.action)
      .bind(5, entry.object).bind(6, entry.outcome).bind(7, entry.details.dump())
      .bind(8, entry.prev_hash).bind(9, entry.hash);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  return entry;
}

Result<signing::AuditEntry> SqlStore::append_audit(const AuditDraft& audit) {
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto entry = append_audit_locked(*db, audit);
  if (!entry) return entry;
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return entry;
}

Result<std::vector<signing::AuditEntry>> SqlStore::list_audit(std::int64_t after_seq, std::int64_t limit) {
  auto db = pool_->acquire();
  // Batched poll writes carry audit entries: an auditor sees them all.
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare(
      "SELECT seq, time, actor, action, object, outcome, details, prev_hash, hash FROM audit_log "
      "WHERE seq > ? ORDER BY seq LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, after_seq).bind(2, limit);
  return common::collect(*select, [](const sql::Statement& row) {
    return signing::AuditEntry{.seq = row.int64(0), .time = row.text(1), .actor = row.text(2), .action = row.text(3),
                               .object = row.text(4), .outcome = row.text(5),
                               .details = common::Json::parse(row.text(6), nullptr, false),
                               .prev_hash = row.text(7), .hash = row.text(8)};
  });
}

Result<std::int64_t> SqlStore::create_token(const TokenRecord& token, const std::string& token_hash,
                                            const AuditDraft& audit) {
  auto db = pool_->acquire();
  std::int64_t id = 0;
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto insert = db->prepare(
        "INSERT INTO tokens (name, role, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, token.name).bind(2, token.role).bind(3, token_hash).bind(4, token.created_at)
        .bind(5, token.expires_at);
    auto inserted = insert->run_returning_int64();
    if (!inserted) return std::unexpected(inserted.error());
    id = *inserted;
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::optional<TokenRecord>> SqlStore::find_token(const std::string& token_hash) {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT id, name, role, created_at, expires_at, revoked FROM tokens WHERE token_hash = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, token_hash);
  return common::first_row(*select, token_from_row);
}

Result<std::vector<TokenRecord>> SqlStore::list_tokens() {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT id, name, role, created_at, expires_at, revoked FROM tokens ORDER BY id");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, token_from_row);
}

Status SqlStore::revoke_token(std::int64_t id, const AuditDraft& audit) {
  return revoke_row("tokens", id, "token", audit);
}

Result<TokenRecord> SqlStore::rotate_token(std::int64_t id, const TokenRecord& token, const std::string& token_hash,
                                           const std::string& now, const std::string& old_valid_until,
                                           const AuditDraft& audit) {
  auto db = pool_->acquire();
  TokenRecord made = token;
  AuditDraft entry = audit;  // completed with the new id before it is appended
  auto ok = in_transaction(*db, entry, [&]() -> Status {
    auto old = db->prepare(
        "SELECT id, name, role, created_at, expires_at, revoked FROM tokens WHERE id = ? AND revoked = 0 "
        "AND (expires_at IS NULL OR expires_at > ?)");
    if (!old) return std::unexpected(old.error());
    old->bind(1, id).bind(2, now);
    auto found = common::first_row(*old, token_from_row);
    if (!found) return std::unexpected(found.error());
    if (!*found) return common::fail(common::Errc::kNotFound, "no active token " + std::to_string(id));
    made.name = (*found)->name;
    made.role = (*found)->role;
    auto insert = db->prepare(
        "INSERT INTO tokens (name, role, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, made.name).bind(2, made.role).bind(3, token_hash).bind(4, made.created_at).bind(5, made.expires_at);
    auto inserted = insert->run_returning_int64();
    if (!inserted) return std::unexpected(inserted.error());
    made.id = *inserted;
    auto shorten = db->prepare("UPDATE tokens SET expires_at = ? WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)");
    if (!shorten) return std::unexpected(shorten.error());
    shorten->bind(1, old_valid_until).bind(2, id).bind(3, old_valid_until);
    if (auto run = shorten->run(); !run) return run;
    entry.details["to"] = made.id;
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return made;
}

Status SqlStore::revoke_row(const char* table, std::int64_t id, const std::string& what, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto update = db->prepare(std::string("UPDATE ") + table + " SET revoked = 1 WHERE id = ? AND revoked = 0");
    if (!update) return std::unexpected(update.error());
    update->bind(1, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no active " + what + " " + std::to_string(id));
    return {};
  });
}

Result<bool> SqlStore::insert_bundle(const BundleRecord& b, const AuditDraft& audit) {
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto insert = db->prepare("INSERT INTO bundles (" + std::string(kBundleColumns) +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, b.file_sha256).bind(2, b.bundle_id).bind(3, b.name).bind(4, b.kind).bind(5, b.component)
      .bind(6, b.version).bind(7, b.security_version).bind(8, b.size).bind(9, b.manifest_json)
      .bind(10, b.signer_keyids_json).bind(11, b.uploaded_at).bind(12, b.uploaded_by);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  if (db->changes() == 0) return false;  // the transaction rolls back: nothing to record
  if (auto entry = append_audit_locked(*db, audit); !entry) return std::unexpected(entry.error());
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return true;
}

Result<std::vector<BundleRecord>> SqlStore::list_bundles() {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kBundleColumns) + " FROM bundles ORDER BY name, uploaded_at");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, bundle_from_row);
}

Result<std::optional<BundleRecord>> SqlStore::find_bundle(const std::string& key) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kBundleColumns) +
                            " FROM bundles WHERE file_sha256 = ? OR bundle_id = ? LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, key).bind(2, key);
  return common::first_row(*select, bundle_from_row);
}

Status SqlStore::delete_bundle(const std::string& file_sha256, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto remove = db->prepare("DELETE FROM bundles WHERE file_sha256 = ?");
    if (!remove) return std::unexpected(remove.error());
    remove->bind(1, file_sha256);
    if (auto ok = remove->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no bundle " + file_sha256);
    return {};
  });
}

Result<std::optional<std::string>> SqlStore::setting(const std::string& key) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT value FROM settings WHERE key = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, key);
  return common::first_row(*select, [](const sql::Statement& row) { return row.text(0); });
}

Status SqlStore::set_settings(const std::vector<std::pair<std::string, std::string>>& values, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&] { return upsert_settings_locked(*db, values); });
}

Status SqlStore::set_settings_if(const std::string& key, const std::optional<std::string>& expected,
                                 const std::vector<std::pair<std::string, std::string>>& values, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    // Read under the writers' lock: nobody changes it before the upsert.
    auto select = db->prepare("SELECT value FROM settings WHERE key = ?");
    if (!select) return std::unexpected(select.error());
    select->bind(1, key);
    auto current = common::first_row(*select, [](const sql::Statement& row) { return row.text(0); });
    if (!current) return std::unexpected(current.error());
    if (*current != expected) return common::fail(common::Errc::kConflict, "the setting " + key + " changed meanwhile");
    return upsert_settings_locked(*db, values);
  });
}

Status SqlStore::upsert_settings_locked(Db& db, const std::vector<std::pair<std::string, std::string>>& values) {
  auto upsert = db.prepare(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!upsert) return std::unexpected(upsert.error());
  for (const auto& [key, value] : values) {
    upsert->reset();
    upsert->bind(1, key).bind(2, value);
    if (auto ok = upsert->run(); !ok) return ok;
  }
  return {};
}

}  // namespace flotilla::server
