// SqlStore: field gateways and their children (docs/gateway.md).
#include "server/errors.hpp"
#include "server/store/sql_device_row.hpp"
#include "server/store/sql_offer_row.hpp"
#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

Result<DeviceRecord> SqlStore::enroll_child(const DeviceRecord& child, const std::string& now, const AuditDraft& audit) {
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto existing = db->prepare(FLOTILLA_DEVICE_SELECT "WHERE d.id = ?");
  if (!existing) return std::unexpected(existing.error());
  existing->bind(1, child.id);
  auto known = common::first_row(*existing, device_from_row);
  if (!known) return std::unexpected(known.error());
  if (*known) return **known;
  DeviceRecord stored = child;
  stored.status = "accepted";
  stored.protocol = "child";
  stored.created_at = now;
  auto insert = db->prepare(
      "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, protocol, parent, child_id) "
      "VALUES (?, ?, ?, '', 'accepted', '{}', ?, 'child', ?, ?) RETURNING key");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, stored.id).bind(2, stored.device_type).bind(3, stored.identity_json).bind(4, now)
      .bind(5, stored.parent).bind(6, stored.child_id);
  auto key = insert->run_returning_int64();
  if (!key) return std::unexpected(key.error());
  stored.key = *key;
  if (auto logged = append_audit_locked(*db, audit); !logged) return std::unexpected(logged.error());
  if (auto ok = commit_change(*db, *tx); !ok) return std::unexpected(ok.error());
  return stored;
}

Result<std::vector<Store::PolledDevice>> SqlStore::children_with_offers(const std::string& gateway_id) {
  auto db = pool_->acquire();
  // One round trip for all of a gateway's children; a child with several
  // active deployments is offered the first by id, as take_offer does.
  auto select = db->prepare(FLOTILLA_DEVICE_COLUMNS("NULL", "NULL") ", " + std::string(kOfferColumns) +
                            " FROM devices d JOIN deployment_devices dd ON dd.device_id = d.id AND dd.active = 1 "
                            "JOIN deployments dep ON dep.id = dd.deployment_id "
                            "JOIN bundles b ON b.file_sha256 = dep.bundle "
                            "WHERE d.parent = ? AND d.status = 'accepted' AND d.orphaned = 0 ORDER BY d.id, dep.id");
  if (!select) return std::unexpected(select.error());
  select->bind(1, gateway_id);
  auto rows = common::collect(*select, [](const sql::Statement& row) {
    return PolledDevice{device_from_row(row), offer_from_row(row, kDeviceColumnCount)};
  });
  if (!rows) return std::unexpected(rows.error());
  std::vector<PolledDevice> firsts;
  for (auto& row : *rows) {
    if (firsts.empty() || firsts.back().device.id != row.device.id) firsts.push_back(std::move(row));
  }
  return firsts;
}

Status SqlStore::set_device_gateway(const std::string& id, bool gateway, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto update = db->prepare("UPDATE devices SET gateway = ? WHERE id = ? AND protocol = 'flotilla'");
    if (!update) return std::unexpected(update.error());
    update->bind(1, std::int64_t{gateway ? 1 : 0}).bind(2, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id + " with a key of its own");
    return {};
  });
}

Status SqlStore::move_child(const std::string& child, const std::string& gateway, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto target = db->prepare("SELECT 1 FROM devices WHERE id = ? AND status = 'accepted' AND gateway = 1");
    if (!target) return std::unexpected(target.error());
    target->bind(1, gateway);
    auto found = target->step();
    if (!found) return std::unexpected(found.error());
    if (!*found) return common::fail(common::Errc::kConflict, "device " + gateway + " is not an accepted gateway allowed children");
    auto update = db->prepare("UPDATE devices SET parent = ?, orphaned = 0 WHERE id = ? AND protocol = 'child'");
    if (!update) return std::unexpected(update.error());
    update->bind(1, gateway).bind(2, child);
    if (auto ok = update->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no child device " + child);
    return {};
  }, Change::kScheduling);
}

Status SqlStore::orphan_children_locked(Db& db, const std::string& gateway_id) {
  auto update = db.prepare("UPDATE devices SET orphaned = 1 WHERE parent = ? AND orphaned = 0");
  if (!update) return std::unexpected(update.error());
  update->bind(1, gateway_id);
  if (auto ok = update->run(); !ok) return ok;
  auto orphaned = db.changes();
  if (orphaned == 0) return {};
  auto entry = append_audit_locked(db, {"system:server", "device.children_orphaned", "device:" + gateway_id, "ok",
                                        {{"children", orphaned}}});
  if (!entry) return std::unexpected(entry.error());
  return {};
}

}  // namespace flotilla::server
