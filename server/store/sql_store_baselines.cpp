// SqlStore: compliance baselines.
#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

BaselineRecord baseline_from_row(const sql::Statement& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3)};
}

}  // namespace

Result<bool> SqlStore::put_baseline(const BaselineRecord& b, const AuditDraft& audit) {
  auto db = pool_->acquire();
  bool created = false;
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto existing = db->prepare("SELECT 1 FROM baselines WHERE name = ?");
    if (!existing) return std::unexpected(existing.error());
    existing->bind(1, b.name);
    auto row = existing->step();
    if (!row) return std::unexpected(row.error());
    created = !*row;
    auto upsert = db->prepare(
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

Result<std::vector<BaselineRecord>> SqlStore::list_baselines() {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT name, document, updated_by, updated_at FROM baselines ORDER BY name");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, baseline_from_row);
}

Result<std::optional<BaselineRecord>> SqlStore::find_baseline(const std::string& name) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT name, document, updated_by, updated_at FROM baselines WHERE name = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, name);
  return common::first_row(*select, baseline_from_row);
}

Status SqlStore::delete_baseline(const std::string& name, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto remove = db->prepare("DELETE FROM baselines WHERE name = ?");
    if (!remove) return std::unexpected(remove.error());
    remove->bind(1, name);
    if (auto ok = remove->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no baseline " + name);
    return {};
  });
}

}  // namespace flotilla::server
