// SqliteStore: compliance baselines.
#include "server/store/sqlite_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

BaselineRecord baseline_from_row(const common::Statement& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3)};
}

}  // namespace

Result<bool> SqliteStore::put_baseline(const BaselineRecord& b, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  bool created = false;
  auto ok = in_transaction(audit, [&]() -> Status {
    auto existing = db_.prepare("SELECT 1 FROM baselines WHERE name = ?");
    if (!existing) return std::unexpected(existing.error());
    existing->bind(1, b.name);
    auto row = existing->step();
    if (!row) return std::unexpected(row.error());
    created = !*row;
    auto upsert = db_.prepare(
        "INSERT INTO baselines (name, document, updated_by, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_by = excluded.updated_by, "
        "updated_at = excluded.updated_at");
    if (!upsert) return std::unexpected(upsert.error());
    upsert->bind(1, b.name).bind(2, b.document).bind(3, b.updated_by).bind(4, b.updated_at);
    return upsert->run();
  });
  if (!ok) return std::unexpected(ok.error());
  return created;
}

Result<std::vector<BaselineRecord>> SqliteStore::list_baselines() {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT name, document, updated_by, updated_at FROM baselines ORDER BY name");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, baseline_from_row);
}

Result<std::optional<BaselineRecord>> SqliteStore::find_baseline(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT name, document, updated_by, updated_at FROM baselines WHERE name = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, name);
  return common::first_row(*select, baseline_from_row);
}

Status SqliteStore::delete_baseline(const std::string& name, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  return in_transaction(audit, [&]() -> Status {
    auto remove = db_.prepare("DELETE FROM baselines WHERE name = ?");
    if (!remove) return std::unexpected(remove.error());
    remove->bind(1, name);
    if (auto ok = remove->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no baseline " + name);
    return {};
  });
}

}  // namespace flotilla::server
