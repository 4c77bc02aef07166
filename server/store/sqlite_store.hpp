// The embedded store: one SQLite file in WAL mode, one connection guarded
// by a mutex (SQLite has one writer anyway).
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "common/sqlite.hpp"
#include "common/time.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

class SqliteStore final : public Store {
 public:
  using Clock = std::function<common::TimePoint()>;
  // Opens (creating) the database and applies pending migrations.
  static common::Result<std::unique_ptr<SqliteStore>> open(const std::string& path, Clock clock = common::now_utc);

  common::Result<std::int64_t> create_token(const TokenRecord& token, const std::string& token_hash,
                                            const AuditDraft& audit) override;
  common::Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) override;
  common::Result<std::vector<TokenRecord>> list_tokens() override;
  common::Status revoke_token(std::int64_t id, const AuditDraft& audit) override;

  common::Result<bool> insert_bundle(const BundleRecord& bundle, const AuditDraft& audit) override;
  common::Result<std::vector<BundleRecord>> list_bundles() override;
  common::Result<std::optional<BundleRecord>> find_bundle(const std::string& key) override;
  common::Status delete_bundle(const std::string& file_sha256, const AuditDraft& audit) override;

  common::Result<signing::AuditEntry> append_audit(const AuditDraft& audit) override;
  common::Result<std::vector<signing::AuditEntry>> list_audit(std::int64_t after_seq, std::int64_t limit) override;

  common::Result<std::optional<std::string>> setting(const std::string& key) override;
  common::Status set_setting(const std::string& key, const std::string& value, const AuditDraft& audit) override;

 private:
  SqliteStore(common::Database db, Clock clock) : db_(std::move(db)), clock_(std::move(clock)) {}
  // Appends inside the caller's transaction; mutex_ must be held.
  common::Result<signing::AuditEntry> append_audit_locked(const AuditDraft& audit);
  // Runs `body` and an audit append in one transaction.
  common::Status in_transaction(const AuditDraft& audit, const std::function<common::Status()>& body);

  std::mutex mutex_;
  common::Database db_;
  Clock clock_;
};

}  // namespace flotilla::server
