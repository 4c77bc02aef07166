// SqliteStore: devices, enrollment tokens, device tokens, inventory.
#include <map>

#include "common/encoding.hpp"
#include "server/errors.hpp"
#include "server/store/sqlite_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

// Every device query reads `devices d` joined with its last_seen.
#define FLOTILLA_DEVICE_COLUMNS(INVENTORY)                                                                      \
  "SELECT d.key, d.id, d.device_type, d.identity, d.public_key, d.status, d.labels, d.created_at, "           \
  "strftime('%Y-%m-%dT%H:%M:%SZ', s.last_seen, 'unixepoch'), d.report_counter, " INVENTORY ", d.inventory_digest, " \
  "d.inventory_at, d.tampered, d.utc_offset "
#define FLOTILLA_DEVICE_SELECT \
  FLOTILLA_DEVICE_COLUMNS("d.inventory") "FROM devices d LEFT JOIN device_seen s ON s.device = d.key "

DeviceRecord device_from_row(const common::Statement& row) {
  return {row.int64(0),         row.text(1),           row.text(2),           row.text(3),
          row.text(4),          row.text(5),           row.text(6),           row.text(7),
          row.optional_text(8), row.int64(9),          row.optional_text(10), row.optional_text(11),
          row.optional_text(12), row.int64(13) != 0, row.optional_text(14)};
}

EnrollmentTokenRecord enrollment_from_row(const common::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.int64(3), row.int64(4), row.text(5), row.text(6), row.int64(7) != 0};
}

}  // namespace

Result<std::int64_t> SqliteStore::create_enrollment_token(const EnrollmentTokenRecord& token, const std::string& token_hash,
                                                          const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  std::int64_t id = 0;
  auto ok = in_transaction(audit, [&]() -> Status {
    auto insert = db_.prepare(
        "INSERT INTO enrollment_tokens (name, token_hash, device_types, max_uses, expires_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, token.name).bind(2, token_hash).bind(3, token.device_types_json).bind(4, token.max_uses)
        .bind(5, token.expires_at).bind(6, token.created_at);
    if (auto done = insert->run(); !done) return done;
    id = db_.last_insert_rowid();
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::vector<EnrollmentTokenRecord>> SqliteStore::list_enrollment_tokens() {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT id, name, device_types, max_uses, uses, expires_at, created_at, revoked FROM enrollment_tokens ORDER BY id");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, enrollment_from_row);
}

Status SqliteStore::revoke_enrollment_token(std::int64_t id, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  return in_transaction(audit, [&]() -> Status {
    auto update = db_.prepare("UPDATE enrollment_tokens SET revoked = 1 WHERE id = ? AND revoked = 0");
    if (!update) return std::unexpected(update.error());
    update->bind(1, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no active enrollment token " + std::to_string(id));
    return {};
  });
}

Result<DeviceRecord> SqliteStore::enroll_device(const DeviceRecord& device, const std::optional<std::string>& token_hash,
                                                const std::string& nonce, const std::string& now,
                                                const std::string& nonce_horizon, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  // Nonces older than the timestamp window can never be replayed
  // successfully (the timestamp check refuses them), so they are dropped.
  auto prune = db_.prepare("DELETE FROM device_nonces WHERE seen_at < ?");
  if (!prune) return std::unexpected(prune.error());
  prune->bind(1, nonce_horizon);
  if (auto ok = prune->run(); !ok) return std::unexpected(ok.error());
  auto remember = db_.prepare("INSERT INTO device_nonces (nonce, seen_at) VALUES (?, ?)");
  if (!remember) return std::unexpected(remember.error());
  remember->bind(1, nonce).bind(2, now);
  if (auto ok = remember->run(); !ok) {
    if (ok.error().is(common::Errc::kConflict)) return common::fail(Errc::kReplay, "the nonce was used before");
    return std::unexpected(ok.error());
  }

  auto existing = db_.prepare(FLOTILLA_DEVICE_SELECT "WHERE d.id = ?");
  if (!existing) return std::unexpected(existing.error());
  existing->bind(1, device.id);
  auto row = existing->step();
  if (!row) return std::unexpected(row.error());
  if (*row) {
    auto known = device_from_row(*existing);
    if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());  // keep the nonce
    return known;
  }

  DeviceRecord stored = device;
  stored.status = "pending";
  stored.key = 0;
  AuditDraft entry = audit;
  if (token_hash) {
    auto token = db_.prepare(
        "SELECT id, name, device_types, max_uses, uses, expires_at, created_at, revoked FROM enrollment_tokens "
        "WHERE token_hash = ?");
    if (!token) return std::unexpected(token.error());
    token->bind(1, *token_hash);
    auto found = token->step();
    if (!found) return std::unexpected(found.error());
    if (!*found) return common::fail(Errc::kEnrollmentRefused, "the enrollment token is unknown");
    auto record = enrollment_from_row(*token);
    auto types = common::Json::parse(record.device_types_json, nullptr, false);
    bool type_ok = types.is_array() && std::find(types.begin(), types.end(), device.device_type) != types.end();
    if (record.revoked) return common::fail(Errc::kEnrollmentRefused, "the enrollment token was revoked");
    if (record.expires_at <= now) return common::fail(Errc::kEnrollmentRefused, "the enrollment token has expired");
    if (record.uses >= record.max_uses) return common::fail(Errc::kEnrollmentRefused, "the enrollment token is used up");
    if (!type_ok) {
      return common::fail(Errc::kEnrollmentRefused, "the enrollment token is not for device type " + device.device_type);
    }
    auto use = db_.prepare("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?");
    if (!use) return std::unexpected(use.error());
    use->bind(1, record.id);
    if (auto ok = use->run(); !ok) return std::unexpected(ok.error());
    stored.status = "accepted";
    entry.details["enrollment_token"] = record.id;
  }
  entry.details["status"] = stored.status;
  auto insert = db_.prepare(
      "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at) VALUES (?, ?, ?, ?, ?, '{}', ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, stored.id).bind(2, stored.device_type).bind(3, stored.identity_json).bind(4, stored.public_key)
      .bind(5, stored.status).bind(6, now);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  stored.created_at = now;
  stored.key = db_.last_insert_rowid();
  if (auto logged = append_audit_locked(entry); !logged) return std::unexpected(logged.error());
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return stored;
}

Status SqliteStore::issue_device_token(const std::string& device_id, const std::string& token_hash,
                                       const std::string& expires_at) {
  std::lock_guard lock(mutex_);
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  // One live token per device: a new one replaces the old.
  auto clear = db_.prepare("DELETE FROM device_tokens WHERE device = (SELECT key FROM devices WHERE id = ?)");
  if (!clear) return std::unexpected(clear.error());
  clear->bind(1, device_id);
  if (auto ok = clear->run(); !ok) return ok;
  auto hash = common::from_hex(token_hash);
  if (!hash) return std::unexpected(hash.error());
  auto insert = db_.prepare(
      "INSERT INTO device_tokens (token_hash, device, expires_at) SELECT ?, key, unixepoch(?) FROM devices WHERE id = ?");
  if (!insert) return std::unexpected(insert.error());
  insert->bind_blob(1, *hash).bind(2, expires_at).bind(3, device_id);
  if (auto ok = insert->run(); !ok) return ok;
  return tx->commit();
}

Result<std::optional<DeviceRecord>> SqliteStore::find_device_by_token(const std::string& token_hash, const std::string& now) {
  std::lock_guard lock(mutex_);
  // The hot path: the report body (possibly large) is not read.
  auto select = db_.prepare(FLOTILLA_DEVICE_COLUMNS("NULL")
                            "FROM device_tokens t JOIN devices d ON d.key = t.device "
                            "LEFT JOIN device_seen s ON s.device = d.key "
                            "WHERE t.token_hash = ? AND t.expires_at > unixepoch(?) AND d.status = 'accepted'");
  if (!select) return std::unexpected(select.error());
  auto hash = common::from_hex(token_hash);
  if (!hash) return std::optional<DeviceRecord>{};
  select->bind_blob(1, *hash).bind(2, now);
  return common::first_row(*select, device_from_row);
}

Result<std::optional<DeviceRecord>> SqliteStore::find_device(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare(FLOTILLA_DEVICE_SELECT "WHERE d.id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return common::first_row(*select, device_from_row);
}

Result<std::vector<DeviceRecord>> SqliteStore::list_devices(const DeviceFilter& f) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  // Each filter is always present in the SQL and disabled by a NULL bind,
  // so the text stays constant and every value is bound.
  auto select = db_.prepare(FLOTILLA_DEVICE_SELECT "WHERE "
      "(?1 IS NULL OR d.device_type = ?1) AND (?2 IS NULL OR d.status = ?2) AND "
      "(?3 IS NULL OR json_extract(d.labels, '$.' || json_quote(?3)) = ?4) AND "
      "(?5 IS NULL OR s.last_seen IS NULL OR s.last_seen < unixepoch(?5)) AND (?6 IS NULL OR s.last_seen >= unixepoch(?6)) AND "
      "(?9 IS NULL OR d.tampered = ?9) "
      "ORDER BY d.id LIMIT ?7 OFFSET ?8");
  if (!select) return std::unexpected(select.error());
  select->bind(1, f.device_type).bind(2, f.status);
  select->bind(3, f.label ? std::optional<std::string>(f.label->first) : std::nullopt);
  select->bind(4, f.label ? std::optional<std::string>(f.label->second) : std::nullopt);
  select->bind(5, f.seen_before).bind(6, f.seen_after).bind(7, f.limit).bind(8, f.offset);
  select->bind(9, f.tampered ? std::optional<std::int64_t>(*f.tampered ? 1 : 0) : std::nullopt);
  return common::collect(*select, device_from_row);
}

Result<std::vector<FleetCount>> SqliteStore::count_fleet(std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare(
      "SELECT d.device_type, d.status, d.tampered, "
      "CASE WHEN s.last_seen IS NULL THEN 'never' WHEN s.last_seen >= ?1 - 300 THEN '5m' "
      "WHEN s.last_seen >= ?1 - 3600 THEN '1h' WHEN s.last_seen >= ?1 - 86400 THEN '24h' ELSE 'older' END, count(*) "
      "FROM devices d LEFT JOIN device_seen s ON s.device = d.key GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4");
  if (!select) return std::unexpected(select.error());
  select->bind(1, now);
  return common::collect(*select, [](const common::Statement& row) {
    return FleetCount{row.text(0), row.text(1), row.int64(2) != 0, row.text(3), row.int64(4)};
  });
}

Status SqliteStore::set_device_status(const std::string& id, const std::string& status, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  return in_transaction(audit, [&]() -> Status {
    auto update = db_.prepare("UPDATE devices SET status = ? WHERE id = ?");
    if (!update) return std::unexpected(update.error());
    update->bind(1, status).bind(2, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id);
    if (status != "accepted") {
      auto revoke = db_.prepare("DELETE FROM device_tokens WHERE device = (SELECT key FROM devices WHERE id = ?)");
      if (!revoke) return std::unexpected(revoke.error());
      revoke->bind(1, id);
      return revoke->run();
    }
    return {};
  });
}

Status SqliteStore::set_device_labels(const std::string& id, const std::string& labels_json, const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  return in_transaction(audit, [&]() -> Status {
    auto update = db_.prepare("UPDATE devices SET labels = ? WHERE id = ?");
    if (!update) return std::unexpected(update.error());
    update->bind(1, labels_json).bind(2, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db_.changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id);
    return {};
  });
}

namespace {
// A batch of last_seen times goes to disk at most this often, or when this
// many are waiting: one transaction (one fsync) instead of one per poll.
constexpr auto kTouchFlushInterval = std::chrono::seconds(5);
constexpr std::size_t kTouchFlushBatch = 5000;
}  // namespace

Status SqliteStore::touch_device(std::int64_t device_key, common::TimePoint now) {
  std::lock_guard lock(mutex_);
  pending_touches_[device_key] = now.time_since_epoch().count();
  return maybe_flush_locked();
}

Status SqliteStore::maybe_flush_locked() {
  if (pending_touches_.size() + pending_fetched_.size() >= kTouchFlushBatch ||
      std::chrono::steady_clock::now() - last_touch_flush_ >= kTouchFlushInterval) {
    return flush_batched_locked();
  }
  return {};
}

Status SqliteStore::flush_batched_locked() {
  last_touch_flush_ = std::chrono::steady_clock::now();
  if (pending_touches_.empty() && pending_fetched_.empty()) return {};
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  // Offers fetched: pending -> offered, one audit entry per deployment and
  // batch listing the devices (a device that polled twice counts once).
  std::map<std::int64_t, std::vector<std::string>> fetched;
  auto mark = db_.prepare(
      "UPDATE deployment_devices SET state = 'offered', updated_at = ? WHERE deployment_id = ? AND device_id = ? "
      "AND state = 'pending'");
  if (!mark) return std::unexpected(mark.error());
  for (const auto& f : pending_fetched_) {
    mark->reset();
    mark->bind(1, f.at).bind(2, f.deployment_id).bind(3, f.device_id);
    if (auto ok = mark->run(); !ok) return ok;
    if (db_.changes() > 0) fetched[f.deployment_id].push_back(f.device_id);
  }
  for (const auto& [deployment, devices] : fetched) {
    for (std::size_t i = 0; i < devices.size(); i += 500) {
      std::vector<std::string> chunk(devices.begin() + static_cast<std::ptrdiff_t>(i),
                                     devices.begin() + static_cast<std::ptrdiff_t>(std::min(devices.size(), i + 500)));
      auto entry = append_audit_locked({"system:server", "deployment.offered", "deployment:" + std::to_string(deployment),
                                        "ok", {{"devices", chunk}, {"from", "pending"}, {"to", "offered"}, {"cause", "poll"}}});
      if (!entry) return std::unexpected(entry.error());
    }
  }
  pending_fetched_.clear();
  for (const auto& [key, when] : pending_touches_) {
    auto upsert = db_.prepare(
        "INSERT INTO device_seen (device, last_seen) VALUES (?1, ?2) "
        "ON CONFLICT (device) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)");
    if (!upsert) return std::unexpected(upsert.error());
    upsert->bind(1, key).bind(2, when);
    if (auto ok = upsert->run(); !ok) return ok;
  }
  pending_touches_.clear();
  return tx->commit();
}

SqliteStore::~SqliteStore() {
  std::lock_guard lock(mutex_);
  (void)flush_batched_locked();
}

// The report's component versions, kept apart so the rollout scheduler
// reads them without parsing a million reports.
Status SqliteStore::replace_components_locked(const std::string& device_id, const InventoryReport& report) {
  auto clear = db_.prepare("DELETE FROM device_components WHERE device = (SELECT key FROM devices WHERE id = ?)");
  if (!clear) return std::unexpected(clear.error());
  clear->bind(1, device_id);
  if (auto ok = clear->run(); !ok) return ok;
  auto insert = db_.prepare(
      "INSERT INTO device_components (device, component, version, security_version) "
      "SELECT key, ?, ?, ? FROM devices WHERE id = ?");
  if (!insert) return std::unexpected(insert.error());
  for (const auto& c : report.components) {
    insert->reset();
    insert->bind(1, c.name).bind(2, c.version).bind(3, c.security_version).bind(4, device_id);
    if (auto ok = insert->run(); !ok) return ok;
  }
  auto offset = db_.prepare("UPDATE devices SET utc_offset = ? WHERE id = ?");
  if (!offset) return std::unexpected(offset.error());
  offset->bind(1, report.utc_offset).bind(2, device_id);
  return offset->run();
}

Status SqliteStore::record_inventory(const std::string& device_id, const InventoryReport& report, const std::string& now) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto current = db_.prepare("SELECT report_counter, tampered FROM devices WHERE id = ?");
  if (!current) return std::unexpected(current.error());
  current->bind(1, device_id);
  auto row = current->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "no device " + device_id);
  std::int64_t last_counter = current->int64(0);
  bool was_tampered = current->int64(1) != 0;
  if (report.counter <= last_counter) {
    return common::fail(Errc::kReplay, "report counter " + std::to_string(report.counter) +
                                           " is not above the last accepted " + std::to_string(last_counter));
  }
  auto update = db_.prepare(
      "UPDATE devices SET report_counter = ?, inventory = ?, inventory_sig = ?, inventory_digest = ?, "
      "inventory_at = ?, tampered = ? WHERE id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, report.counter).bind(2, report.body).bind(3, report.signature).bind(4, report.digest)
      .bind(5, now).bind(6, std::int64_t{report.tampered ? 1 : 0}).bind(7, device_id);
  if (auto ok = update->run(); !ok) return ok;
  if (auto ok = replace_components_locked(device_id, report); !ok) return ok;
  if (report.tampered != was_tampered) {
    auto entry = append_audit_locked({"device:" + device_id, report.tampered ? "device.tamper" : "device.tamper_cleared",
                                      "device:" + device_id, "ok", {{"report_counter", report.counter}}});
    if (!entry) return std::unexpected(entry.error());
  }
  return tx->commit();
}

}  // namespace flotilla::server
