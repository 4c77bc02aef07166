// SqlStore: the evidence compliance reports are computed from, a page
// of devices at a time so an export never holds the fleet in memory and
// never holds the store's lock for long.
#include <unordered_map>

#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;

Result<std::vector<ComplianceDevice>> SqlStore::scan_compliance(const ComplianceScan& scan) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  // The three queries of a page see one state of the store.
  auto snapshot = sql::ReadSnapshot::begin(*db);
  if (!snapshot) return std::unexpected(snapshot.error());
  auto devices = db->prepare(
      "SELECT d.key, d.id, d.device_type, d.labels, s.last_seen, "
      "d.report_counter, d.inventory IS NOT NULL, d.inventory_digest, d.inventory_at, d.tampered, d.protocol, d.parent "
      "FROM devices d LEFT JOIN device_seen s ON s.device = d.key "
      "WHERE d.status = 'accepted' AND d.key > ?1 AND (CAST(?2 AS TEXT) IS NULL OR d.device_type = ?2) AND "
      "(CAST(?3 AS TEXT) IS NULL OR " + db->json_text_member("d.labels", "?3") + " = ?4) AND "
      "(CAST(?6 AS TEXT) IS NULL OR d.id = ?6) AND (CAST(?7 AS BIGINT) IS NULL OR "
      "EXISTS (SELECT 1 FROM rollout_devices r WHERE r.rollout_id = ?7 AND r.device_id = d.id)) "
      "ORDER BY d.key LIMIT ?5");
  if (!devices) return std::unexpected(devices.error());
  devices->bind(1, scan.after_key).bind(2, scan.device_type);
  devices->bind(3, scan.label ? std::optional<std::string>(scan.label->first) : std::nullopt);
  devices->bind(4, scan.label ? std::optional<std::string>(scan.label->second) : std::nullopt);
  devices->bind(5, scan.limit).bind(6, scan.device_id).bind(7, scan.rollout_id);
  auto page = common::collect(*devices, [](const sql::Statement& row) {
    ComplianceDevice d;
    d.key = row.int64(0);
    d.id = row.text(1);
    d.device_type = row.text(2);
    d.labels_json = row.text(3);
    if (auto seen = row.optional_int64(4)) d.last_seen = common::format_unix_seconds(*seen);
    d.report_counter = row.int64(5);
    d.reported = row.int64(6) != 0;
    d.report_digest = row.optional_text(7);
    d.report_at = row.optional_text(8);
    d.tampered = row.int64(9) != 0;
    d.protocol = row.text(10);
    d.parent = row.optional_text(11);
    return d;
  });
  if (!page || page->empty()) return page;

  // The page's key range; filtered-out devices inside it are skipped.
  std::unordered_map<std::int64_t, ComplianceDevice*> by_key;
  for (auto& d : *page) by_key.emplace(d.key, &d);
  std::int64_t last_key = page->back().key;

  auto components = db->prepare(
      "SELECT device, component, version, security_version FROM device_components "
      "WHERE device > ?1 AND device <= ?2 ORDER BY device, component");
  if (!components) return std::unexpected(components.error());
  components->bind(1, scan.after_key).bind(2, last_key);
  auto read = common::for_each_row(*components, [&](const sql::Statement& row) {
    if (auto it = by_key.find(row.int64(0)); it != by_key.end()) {
      it->second->components.push_back({row.text(1), row.text(2), row.int64(3)});
    }
  });
  if (!read) return std::unexpected(read.error());

  // Newest deployment first within each component: the first row is the latest attempt.
  auto attempts = db->prepare(
      "SELECT d.key, dd.component, dd.state, dd.active, dd.updated_at, dd.deployment_id "
      "FROM devices d JOIN deployment_devices dd ON dd.device_id = d.id "
      "WHERE d.key > ?1 AND d.key <= ?2 ORDER BY d.key, dd.component, dd.deployment_id DESC");
  if (!attempts) return std::unexpected(attempts.error());
  attempts->bind(1, scan.after_key).bind(2, last_key);
  read = common::for_each_row(*attempts, [&](const sql::Statement& row) {
    auto it = by_key.find(row.int64(0));
    if (it == by_key.end()) return;
    auto& latest = it->second->latest_attempts;
    std::string component = row.text(1);
    if (!latest.empty() && latest.back().component == component) return;  // an older attempt
    latest.push_back({std::move(component), row.text(2), row.int64(3) != 0, row.text(4), row.int64(5)});
  });
  if (!read) return std::unexpected(read.error());
  return page;
}

Result<std::optional<InventoryReport>> SqlStore::signed_inventory(const std::string& device_id) {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT report_counter, inventory, inventory_sig, inventory_digest FROM devices "
      "WHERE id = ? AND inventory IS NOT NULL");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  return common::first_row(*select, [](const sql::Statement& row) {
    return InventoryReport{.counter = row.int64(0), .body = row.text(1), .signature = row.text(2), .digest = row.text(3)};
  });
}

Result<signing::ChainHead> SqlStore::audit_head() {
  auto db = pool_->acquire();
  // Batched poll writes carry audit entries: the head includes them.
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!select) return std::unexpected(select.error());
  auto head = common::first_row(*select, [](const sql::Statement& row) {
    return signing::ChainHead{row.int64(0), row.text(1)};
  });
  if (!head) return std::unexpected(head.error());
  return head->value_or(signing::ChainHead{});
}

}  // namespace flotilla::server
