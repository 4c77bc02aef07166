#include "server/store/sqlite_store.hpp"

#include "server/store/schema.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

TokenRecord token_from_row(const common::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.text(3), row.optional_text(4), row.int64(5) != 0};
}

constexpr std::string_view kBundleColumns =
    "file_sha256, bundle_id, name, kind, component, version, security_version, size, manifest_json, "
    "signer_keyids, uploaded_at, uploaded_by";

BundleRecord bundle_from_row(const common::Statement& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3), row.text(4),  row.text(5),
          row.int64(6), row.int64(7), row.text(8), row.text(9), row.text(10), row.text(11)};
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, Clock clock) {
  auto db = common::Database::open(path);
  if (!db) return std::unexpected(db.error());
  // One server process owns its database: exclusive locking keeps the WAL
  // index in process memory and saves two file-lock syscalls per query.
  // (Several servers share a fleet through PostgreSQL, not SQLite.)
  if (auto ok = db->exec("PRAGMA locking_mode=EXCLUSIVE"); !ok) return std::unexpected(ok.error().with_context(path));
  if (auto ok = db->migrate(server_migrations()); !ok) return std::unexpected(ok.error().with_context(path));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(*db), std::move(clock)));
}

Status SqliteStore::in_transaction(const AuditDraft& audit, const std::function<Status()>& body) {
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  if (auto ok = body(); !ok) return ok;
  if (auto entry = append_audit_locked(audit); !entry) return std::unexpected(entry.error());
  return tx->commit();
}

Result<signing::AuditEntry> SqliteStore::append_audit_locked(const AuditDraft& audit) {
  signing::AuditEntry entry{.time = common::format_rfc3339(clock_()),
                            .actor = audit.actor,
                            .action = audit.action,
                            .object = audit.object,
                            .outcome = audit.outcome,
                            .details = audit.details,
                            .prev_hash = signing::kGenesisHash};
  auto last = db_.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
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
  auto insert = db_.prepare(
      "INSERT INTO audit_log (seq, time, actor, action, object, outcome, details, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, entry.seq).bind(2, entry.time).bind(3, entry.actor).bind(4, entry.action)
      .bind(5, entry.object).bind(6, entry.outcome).bind(7, entry.details.dump())
      .bind(8, entry.prev_hash).bind(9, entry.hash);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  return entry;
}

Result<signing::AuditEntry> SqliteStore::append_audit(const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto entry = append_audit_locked(audit);
  if (!entry) return entry;
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return entry;
}

Result<std::vector<signing::AuditEntry>> SqliteStore::list_audit(std::int64_t after_seq, std::int64_t limit) {
  std::lock_guard lock(mutex_);
  // Batched poll writes carry audit entries: an auditor sees them all.
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare(
      "SELECT seq, time, actor, action, object, outcome, details, prev_hash, hash FROM audit_log "
      "WHERE seq > ? ORDER BY seq LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, after_seq).bind(2, limit);
  return common::collect(*select, [](const common::Statement& row) {
    return signing::AuditEntry{.seq = row.int64(0), .time = row.text(1), .actor = row.text(2), .action = row.text(3),
                               .object = row.text(4), .outcome = row.text(5),
                               .details = common::Json::parse(row.text(6), nullptr, false),
                               .prev_hash = row.text(7), .hash = row.text(8)};
  });
}

Result<std::int64_t> SqliteStore::create_token(const TokenRecord& token, const std::string& token_hash,
                                               const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  std::int64_t id = 0;
  auto ok = in_transaction(audit, [&]() -> Status {
    auto insert = db_.prepare(
        "INSERT INTO tokens (name, role, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, token.name).bind(2, token.role).bind(3, token_hash).bind(4, token.created_at)
        .bind(5, token.expires_at);
    if (auto done = insert->run(); !done) return done;
    id = db_.last_insert_rowid();
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::optional<TokenRecord>> SqliteStore::find_token(const std::string& token_hash) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT id, name, role, created_at, expires_at, revoked FROM tokens WHERE token_hash = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, token_hash);
  return common::first_row(*select, token_from_row);
}

Result<std::vector<TokenRecord>> SqliteStore::list_tokens() {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT id, name, role, created_at, expires_at, revoked FROM tokens ORDER BY id");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, token_from_row);
}

Status SqliteStore::revoke_token(std::int64_t id, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  return in_transaction(audit, [&]() -> Status {
    auto update = db_.prepare("UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0");
    if (!update) return std::unexpected(update.error());
    update->bind(1, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no active token " + std::to_string(id));
    return {};
  });
}

Result<bool> SqliteStore::insert_bundle(const BundleRecord& b, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  bool inserted = false;
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto insert = db_.prepare("INSERT OR IGNORE INTO bundles (" + std::string(kBundleColumns) +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, b.file_sha256).bind(2, b.bundle_id).bind(3, b.name).bind(4, b.kind).bind(5, b.component)
      .bind(6, b.version).bind(7, b.security_version).bind(8, b.size).bind(9, b.manifest_json)
      .bind(10, b.signer_keyids_json).bind(11, b.uploaded_at).bind(12, b.uploaded_by);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  inserted = db_.changes() > 0;
  if (!inserted) return false;  // the transaction rolls back: nothing to record
  if (auto entry = append_audit_locked(audit); !entry) return std::unexpected(entry.error());
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return true;
}

Result<std::vector<BundleRecord>> SqliteStore::list_bundles() {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT " + std::string(kBundleColumns) + " FROM bundles ORDER BY name, uploaded_at");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, bundle_from_row);
}

Result<std::optional<BundleRecord>> SqliteStore::find_bundle(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT " + std::string(kBundleColumns) +
                            " FROM bundles WHERE file_sha256 = ? OR bundle_id = ? LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, key).bind(2, key);
  return common::first_row(*select, bundle_from_row);
}

Status SqliteStore::delete_bundle(const std::string& file_sha256, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  return in_transaction(audit, [&]() -> Status {
    auto remove = db_.prepare("DELETE FROM bundles WHERE file_sha256 = ?");
    if (!remove) return std::unexpected(remove.error());
    remove->bind(1, file_sha256);
    if (auto ok = remove->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no bundle " + file_sha256);
    return {};
  });
}

Result<std::optional<std::string>> SqliteStore::setting(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT value FROM settings WHERE key = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, key);
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>{};
  return std::optional<std::string>{select->text(0)};
}

Status SqliteStore::set_settings(const std::vector<std::pair<std::string, std::string>>& values, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  return in_transaction(audit, [&]() -> Status {
    auto upsert = db_.prepare(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    if (!upsert) return std::unexpected(upsert.error());
    for (const auto& [key, value] : values) {
      upsert->reset();
      upsert->bind(1, key).bind(2, value);
      if (auto ok = upsert->run(); !ok) return ok;
    }
    return {};
  });
}

}  // namespace flotilla::server
