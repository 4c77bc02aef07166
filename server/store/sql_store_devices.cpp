// SqlStore: devices, enrollment tokens, device tokens, inventory.
#include <map>

#include "common/encoding.hpp"
#include "server/errors.hpp"
#include "server/store/sql_device_row.hpp"
#include "server/store/sql_offer_row.hpp"
#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

// 9999-12-31T23:59:59Z in Unix seconds: the expiry of tokens that have none.
constexpr std::int64_t kNeverExpires = 253402300799;

EnrollmentTokenRecord enrollment_from_row(const sql::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.int64(3), row.int64(4), row.text(5), row.text(6), row.int64(7) != 0,
          row.int64(8) != 0};
}

// RFC 3339 text as Unix seconds, for the integer time columns.
Result<std::int64_t> unix_seconds(const std::string& rfc3339) {
  auto time = common::parse_rfc3339(rfc3339);
  if (!time) return std::unexpected(time.error());
  return time->time_since_epoch().count();
}

std::optional<std::int64_t> optional_unix_seconds(const std::optional<std::string>& rfc3339) {
  if (!rfc3339) return std::nullopt;
  auto seconds = unix_seconds(*rfc3339);
  return seconds ? std::optional(*seconds) : std::nullopt;
}

}  // namespace

Result<std::int64_t> SqlStore::create_enrollment_token(const EnrollmentTokenRecord& token, const std::string& token_hash,
                                                       const AuditDraft& audit) {
  auto db = pool_->acquire();
  std::int64_t id = 0;
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto insert = db->prepare(
        "INSERT INTO enrollment_tokens (name, token_hash, device_types, max_uses, expires_at, created_at, gateway) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, token.name).bind(2, token_hash).bind(3, token.device_types_json).bind(4, token.max_uses)
        .bind(5, token.expires_at).bind(6, token.created_at).bind(7, std::int64_t{token.gateway ? 1 : 0});
    auto inserted = insert->run_returning_int64();
    if (!inserted) return std::unexpected(inserted.error());
    id = *inserted;
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::vector<EnrollmentTokenRecord>> SqlStore::list_enrollment_tokens() {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT id, name, device_types, max_uses, uses, expires_at, created_at, revoked, gateway FROM enrollment_tokens ORDER BY id");
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, enrollment_from_row);
}

Status SqlStore::revoke_enrollment_token(std::int64_t id, const AuditDraft& audit) {
  return revoke_row("enrollment_tokens", id, "enrollment token", audit);
}

Result<DeviceRecord> SqlStore::enroll_device(const DeviceRecord& device, const std::optional<std::string>& token_hash,
                                             const std::string& nonce, const std::string& now,
                                             const std::string& nonce_horizon, const AuditDraft& audit) {
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  // Nonces older than the timestamp window can never be replayed
  // successfully (the timestamp check refuses them), so they are dropped.
  auto prune = db->prepare("DELETE FROM device_nonces WHERE seen_at < ?");
  if (!prune) return std::unexpected(prune.error());
  prune->bind(1, nonce_horizon);
  if (auto ok = prune->run(); !ok) return std::unexpected(ok.error());
  auto remember = db->prepare("INSERT INTO device_nonces (nonce, seen_at) VALUES (?, ?)");
  if (!remember) return std::unexpected(remember.error());
  remember->bind(1, nonce).bind(2, now);
  if (auto ok = remember->run(); !ok) {
    if (ok.error().is(common::Errc::kConflict)) return common::fail(Errc::kReplay, "the nonce was used before");
    return std::unexpected(ok.error());
  }

  auto existing = db->prepare(FLOTILLA_DEVICE_SELECT "WHERE d.id = ?");
  if (!existing) return std::unexpected(existing.error());
  existing->bind(1, device.id);
  auto known = common::first_row(*existing, device_from_row);
  if (!known) return std::unexpected(known.error());
  if (*known) {
    if (auto ok = commit_change(*db, *tx); !ok) return std::unexpected(ok.error());  // keep the nonce
    return **known;
  }

  DeviceRecord stored = device;
  stored.status = "pending";
  stored.key = 0;
  AuditDraft entry = audit;
  if (token_hash) {
    auto token = db->prepare(
        "SELECT id, name, device_types, max_uses, uses, expires_at, created_at, revoked, gateway FROM enrollment_tokens "
        "WHERE token_hash = ?");
    if (!token) return std::unexpected(token.error());
    token->bind(1, *token_hash);
    auto found = common::first_row(*token, enrollment_from_row);
    if (!found) return std::unexpected(found.error());
    if (!*found) return common::fail(Errc::kEnrollmentRefused, "the enrollment token is unknown");
    const auto& record = **found;
    auto types = common::Json::parse(record.device_types_json, nullptr, false);
    bool type_ok = types.is_array() && std::find(types.begin(), types.end(), device.device_type) != types.end();
    if (record.revoked) return common::fail(Errc::kEnrollmentRefused, "the enrollment token was revoked");
    if (record.expires_at <= now) return common::fail(Errc::kEnrollmentRefused, "the enrollment token has expired");
    if (record.uses >= record.max_uses) return common::fail(Errc::kEnrollmentRefused, "the enrollment token is used up");
    if (!type_ok) {
      return common::fail(Errc::kEnrollmentRefused, "the enrollment token is not for device type " + device.device_type);
    }
    auto use = db->prepare("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?");
    if (!use) return std::unexpected(use.error());
    use->bind(1, record.id);
    if (auto ok = use->run(); !ok) return std::unexpected(ok.error());
    stored.status = "accepted";
    stored.gateway = record.gateway;
    entry.details["enrollment_token"] = record.id;
    if (record.gateway) entry.details["gateway"] = true;
  }
  entry.details["status"] = stored.status;
  auto insert = db->prepare(
      "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, gateway) "
      "VALUES (?, ?, ?, ?, ?, '{}', ?, ?) RETURNING key");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, stored.id).bind(2, stored.device_type).bind(3, stored.identity_json).bind(4, stored.public_key)
      .bind(5, stored.status).bind(6, now).bind(7, std::int64_t{stored.gateway ? 1 : 0});
  auto key = insert->run_returning_int64();
  if (!key) return std::unexpected(key.error());
  stored.created_at = now;
  stored.key = *key;
  if (auto logged = append_audit_locked(*db, entry); !logged) return std::unexpected(logged.error());
  if (auto ok = commit_change(*db, *tx); !ok) return std::unexpected(ok.error());
  return stored;
}

Result<DeviceRecord> SqlStore::create_ddi_device(const DeviceRecord& device, const std::optional<std::string>& token_hash,
                                                 const std::string& now, const AuditDraft& audit) {
  common::Bytes hash;
  if (token_hash) {
    auto bytes = common::from_hex(*token_hash);
    if (!bytes) return std::unexpected(bytes.error());
    hash = std::move(*bytes);
  }
  DeviceRecord stored = device;
  if (stored.status.empty()) stored.status = "accepted";
  stored.protocol = "ddi";
  stored.created_at = now;
  auto db = pool_->acquire();
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto insert = db->prepare(
        "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, protocol) "
        "VALUES (?, ?, ?, '', ?, ?, ?, 'ddi') RETURNING key");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, stored.id).bind(2, stored.device_type).bind(3, stored.identity_json).bind(4, stored.status)
        .bind(5, stored.labels_json).bind(6, now);
    auto key = insert->run_returning_int64();
    if (!key) {
      if (key.error().is(common::Errc::kConflict)) return common::fail(common::Errc::kConflict, "device " + stored.id + " exists");
      return std::unexpected(key.error());
    }
    stored.key = *key;
    if (!token_hash) return {};
    // A target token is configured into the device once and kept, as
    // hawkBit's are: it lives until the device is decommissioned.
    auto token = db->prepare("INSERT INTO device_tokens (token_hash, device, expires_at, issued) VALUES (?, ?, ?, 1)");
    if (!token) return std::unexpected(token.error());
    token->bind_blob(1, hash).bind(2, *key).bind(3, kNeverExpires);
    return token->run();
  }, Change::kScheduling);
  if (!ok) return std::unexpected(ok.error());
  return stored;
}

Status SqlStore::set_device_attributes(const std::string& id, const std::string& attributes_json) {
  auto db = pool_->acquire();
  auto update = db->prepare("UPDATE devices SET attributes = ? WHERE id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, attributes_json).bind(2, id);
  if (auto ok = update->run(); !ok) return ok;
  if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id);
  return {};
}

Status SqlStore::issue_device_token(const std::string& device_id, const std::string& token_hash,
                                    const std::string& expires_at) {
  auto hash = common::from_hex(token_hash);
  if (!hash) return std::unexpected(hash.error());
  auto expires = unix_seconds(expires_at);
  if (!expires) return std::unexpected(expires.error());
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto key = db->prepare("SELECT key FROM devices WHERE id = ?");
  if (!key) return std::unexpected(key.error());
  key->bind(1, device_id);
  auto device_key = common::first_row(*key, [](const sql::Statement& row) { return row.int64(0); });
  if (!device_key) return std::unexpected(device_key.error());
  if (!*device_key) return common::fail(common::Errc::kNotFound, "no device " + device_id);
  // Several live tokens per device, each for its own lifetime: a device
  // whose answer was lost and that authenticates again, or one with two
  // processes, keeps working. The newest kLiveDeviceTokens stay; older
  // ones are revoked as new ones are issued, so the count stays bounded.
  auto trim = db->prepare(
      "DELETE FROM device_tokens WHERE device = ?1 AND token_hash NOT IN "
      "(SELECT token_hash FROM device_tokens WHERE device = ?1 ORDER BY issued DESC LIMIT ?2)");
  if (!trim) return std::unexpected(trim.error());
  trim->bind(1, **device_key).bind(2, kLiveDeviceTokens - 1);
  if (auto ok = trim->run(); !ok) return ok;
  auto insert = db->prepare(
      "INSERT INTO device_tokens (token_hash, device, expires_at, issued) "
      "SELECT ?1, ?2, ?3, COALESCE(MAX(issued), 0) + 1 FROM device_tokens WHERE device = ?2");
  if (!insert) return std::unexpected(insert.error());
  insert->bind_blob(1, *hash).bind(2, **device_key).bind(3, *expires);
  if (auto ok = insert->run(); !ok) return ok;
  return tx->commit();
}

Result<std::optional<DeviceRecord>> SqlStore::find_device_by_token(const std::string& token_hash, const std::string& now) {
  auto hash = common::from_hex(token_hash);
  if (!hash) return std::optional<DeviceRecord>{};
  auto now_seconds = unix_seconds(now);
  if (!now_seconds) return std::unexpected(now_seconds.error());
  auto db = pool_->acquire();
  // The hot path: neither the report body (possibly large) nor last_seen
  // is read. Without device_seen in the join the caller notes every
  // contact (in memory, written in batches); with it, a PostgreSQL
  // server that prepared this while device_seen was still small kept a
  // plan scanning the whole table on every poll until the next ANALYZE
  // (measured: 15,000 scans of up to 38,000 rows in 5 s, a third of the
  // throughput, on a fleet's first minute).
  auto select = db->prepare(FLOTILLA_DEVICE_COLUMNS("NULL", "NULL")
                            "FROM device_tokens t JOIN devices d ON d.key = t.device "
                            "WHERE t.token_hash = ? AND t.expires_at > ? AND d.status = 'accepted'");
  if (!select) return std::unexpected(select.error());
  select->bind_blob(1, *hash).bind(2, *now_seconds);
  return common::first_row(*select, device_from_row);
}

Result<std::optional<Store::PolledDevice>> SqlStore::find_device_and_offer(const std::string& token_hash,
                                                                           const std::string& now) {
  auto hash = common::from_hex(token_hash);
  if (!hash) return std::optional<PolledDevice>{};
  auto now_seconds = unix_seconds(now);
  if (!now_seconds) return std::unexpected(now_seconds.error());
  auto db = pool_->acquire();
  // One statement, one round trip: on PostgreSQL each one is a few
  // system calls on both sides, and they were most of a poll's cost. The
  // first active deployment by id, as take_offer reads it.
  auto select = db->prepare(FLOTILLA_DEVICE_COLUMNS("NULL", "NULL") ", " + std::string(kOfferColumns) +
                            " FROM device_tokens t JOIN devices d ON d.key = t.device "
                            "LEFT JOIN deployment_devices dd ON dd.device_id = d.id AND dd.active = 1 "
                            "LEFT JOIN deployments dep ON dep.id = dd.deployment_id "
                            "LEFT JOIN bundles b ON b.file_sha256 = dep.bundle "
                            "WHERE t.token_hash = ? AND t.expires_at > ? AND d.status = 'accepted' "
                            "ORDER BY dep.id LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind_blob(1, *hash).bind(2, *now_seconds);
  return common::first_row(*select, [](const sql::Statement& row) {
    return PolledDevice{device_from_row(row), offer_from_row(row, kDeviceColumnCount)};
  });
}

Result<std::optional<DeviceRecord>> SqlStore::find_device(const std::string& id) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare(FLOTILLA_DEVICE_SELECT "WHERE d.id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return common::first_row(*select, device_from_row);
}

Result<std::vector<DeviceRecord>> SqlStore::list_devices(const DeviceFilter& f) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  // Each filter is always present in the SQL and disabled by a NULL bind,
  // so the text stays constant and every value is bound. (The CASTs name
  // the type of a parameter first seen in IS NULL, for PostgreSQL.)
  auto select = db->prepare(FLOTILLA_DEVICE_SELECT "WHERE "
      "(CAST(?1 AS TEXT) IS NULL OR d.device_type = ?1) AND (CAST(?2 AS TEXT) IS NULL OR d.status = ?2) AND "
      "(CAST(?3 AS TEXT) IS NULL OR " + db->json_text_member("d.labels", "?3") + " = ?4) AND "
      "(CAST(?5 AS BIGINT) IS NULL OR s.last_seen IS NULL OR s.last_seen < ?5) AND "
      "(CAST(?6 AS BIGINT) IS NULL OR s.last_seen >= ?6) AND (CAST(?9 AS BIGINT) IS NULL OR d.tampered = ?9) AND "
      "(CAST(?10 AS TEXT) IS NULL OR d.protocol = ?10) AND (CAST(?11 AS TEXT) IS NULL OR d.parent = ?11) "
      "ORDER BY d.id LIMIT ?7 OFFSET ?8");
  if (!select) return std::unexpected(select.error());
  select->bind(1, f.device_type).bind(2, f.status);
  select->bind(3, f.label ? std::optional<std::string>(f.label->first) : std::nullopt);
  select->bind(4, f.label ? std::optional<std::string>(f.label->second) : std::nullopt);
  select->bind(5, optional_unix_seconds(f.seen_before)).bind(6, optional_unix_seconds(f.seen_after));
  select->bind(7, f.limit).bind(8, f.offset);
  select->bind(9, f.tampered ? std::optional<std::int64_t>(*f.tampered ? 1 : 0) : std::nullopt);
  select->bind(10, f.protocol).bind(11, f.parent);
  return common::collect(*select, device_from_row);
}

Result<std::vector<FleetCount>> SqlStore::count_fleet(std::int64_t now) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare(
      "SELECT d.device_type, d.status, d.tampered, "
      "CASE WHEN s.last_seen IS NULL THEN 'never' WHEN s.last_seen >= CAST(?1 AS BIGINT) - 300 THEN '5m' "
      "WHEN s.last_seen >= CAST(?1 AS BIGINT) - 3600 THEN '1h' WHEN s.last_seen >= CAST(?1 AS BIGINT) - 86400 THEN '24h' "
      "ELSE 'older' END, count(*) "
      "FROM devices d LEFT JOIN device_seen s ON s.device = d.key GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4");
  if (!select) return std::unexpected(select.error());
  select->bind(1, now);
  return common::collect(*select, [](const sql::Statement& row) {
    return FleetCount{row.text(0), row.text(1), row.int64(2) != 0, row.text(3), row.int64(4)};
  });
}

Status SqlStore::set_device_status(const std::string& id, const std::string& status, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto update = db->prepare("UPDATE devices SET status = ? WHERE id = ?");
    if (!update) return std::unexpected(update.error());
    update->bind(1, status).bind(2, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id);
    if (status == "accepted") return {};
    auto revoke = db->prepare("DELETE FROM device_tokens WHERE device = (SELECT key FROM devices WHERE id = ?)");
    if (!revoke) return std::unexpected(revoke.error());
    revoke->bind(1, id);
    if (auto ok = revoke->run(); !ok) return ok;
    return orphan_children_locked(*db, id);
  }, Change::kScheduling);
}

Status SqlStore::set_device_labels(const std::string& id, const std::string& labels_json, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto update = db->prepare("UPDATE devices SET labels = ? WHERE id = ?");
    if (!update) return std::unexpected(update.error());
    update->bind(1, labels_json).bind(2, id);
    if (auto ok = update->run(); !ok) return ok;
    if (db->changes() == 0) return common::fail(common::Errc::kNotFound, "no device " + id);
    return {};
  }, Change::kScheduling);
}

namespace {
// A batch of last_seen times goes to disk at most this often, or when this
// many are waiting: one transaction (one fsync) instead of one per poll.
constexpr auto kFlushInterval = std::chrono::seconds(5);
constexpr std::size_t kFlushBatch = 5000;

// Writes last_seen times, newest only (another server may have written a
// later one), many rows per statement: one round trip per row made a
// 5,000-row flush on PostgreSQL take most of a second inside the writers'
// lock. Statements of a few fixed sizes keep each connection's prepared
// statements bounded.
Status upsert_last_seen(sql::Connection& db, const std::unordered_map<std::int64_t, std::int64_t>& touches) {
  std::vector<std::pair<std::int64_t, std::int64_t>> rows(touches.begin(), touches.end());
  std::size_t done = 0;
  for (std::size_t size : {std::size_t{256}, std::size_t{16}, std::size_t{1}}) {
    if (rows.size() - done < size) continue;
    std::string sql = "INSERT INTO device_seen (device, last_seen) VALUES (?, ?)";
    for (std::size_t i = 1; i < size; ++i) sql += ", (?, ?)";
    sql += " ON CONFLICT (device) DO UPDATE SET last_seen = excluded.last_seen "
           "WHERE device_seen.last_seen < excluded.last_seen";
    auto upsert = db.prepare(sql);
    if (!upsert) return std::unexpected(upsert.error());
    for (; rows.size() - done >= size; done += size) {
      upsert->reset();
      for (std::size_t i = 0; i < size; ++i) {
        const auto& [key, when] = rows[done + i];
        upsert->bind(static_cast<int>(2 * i + 1), key).bind(static_cast<int>(2 * i + 2), when);
      }
      if (auto ok = upsert->run(); !ok) return ok;
    }
  }
  return {};
}
}  // namespace

Status SqlStore::touch_device(std::int64_t device_key, common::TimePoint now) {
  bool due = false;
  {
    std::lock_guard lock(batch_mutex_);
    pending_touches_[device_key] = now.time_since_epoch().count();
    due = pending_touches_.size() + pending_fetched_.size() >= kFlushBatch ||
          std::chrono::steady_clock::now() - last_flush_ >= kFlushInterval;
  }
  if (!due) return {};
  auto db = pool_->acquire();
  return flush_batched(*db);
}

Status SqlStore::maybe_flush(Db& db) {
  {
    std::lock_guard lock(batch_mutex_);
    if (pending_touches_.size() + pending_fetched_.size() < kFlushBatch &&
        std::chrono::steady_clock::now() - last_flush_ < kFlushInterval) {
      return {};
    }
  }
  return flush_batched(db);
}

Status SqlStore::flush_batched(Db& db) {
  std::unordered_map<std::int64_t, std::int64_t> touches;
  std::vector<Fetched> fetched_offers;
  {
    std::lock_guard lock(batch_mutex_);
    last_flush_ = std::chrono::steady_clock::now();
    if (pending_touches_.empty() && pending_fetched_.empty()) return {};
    touches.swap(pending_touches_);
    fetched_offers.swap(pending_fetched_);
  }
  auto write = [&]() -> Status {
    auto tx = sql::Transaction::begin(db);
    if (!tx) return std::unexpected(tx.error());
    // Offers fetched: pending -> offered, one audit entry per deployment
    // and batch listing the devices (a device that polled twice counts once).
    std::map<std::int64_t, std::vector<std::string>> fetched;
    if (!fetched_offers.empty()) {
      auto mark = db.prepare(
          "UPDATE deployment_devices SET state = 'offered', updated_at = ? WHERE deployment_id = ? AND device_id = ? "
          "AND state = 'pending'");
      if (!mark) return std::unexpected(mark.error());
      for (const auto& f : fetched_offers) {
        mark->reset();
        mark->bind(1, f.at).bind(2, f.deployment_id).bind(3, f.device_id);
        if (auto ok = mark->run(); !ok) return ok;
        if (db.changes() > 0) fetched[f.deployment_id].push_back(f.device_id);
      }
    }
    for (const auto& [deployment, devices] : fetched) {
      for (std::size_t i = 0; i < devices.size(); i += 500) {
        std::vector<std::string> chunk(devices.begin() + static_cast<std::ptrdiff_t>(i),
                                       devices.begin() + static_cast<std::ptrdiff_t>(std::min(devices.size(), i + 500)));
        auto entry = append_audit_locked(db, {"system:server", "deployment.offered", "deployment:" + std::to_string(deployment),
                                              "ok", {{"devices", chunk}, {"from", "pending"}, {"to", "offered"}, {"cause", "poll"}}});
        if (!entry) return std::unexpected(entry.error());
      }
    }
    if (auto ok = upsert_last_seen(db, touches); !ok) return ok;
    return tx->commit();
  };
  auto ok = write();
  if (!ok) {
    // Kept for the next flush: fetched offers must reach the database.
    std::lock_guard lock(batch_mutex_);
    for (const auto& [key, when] : touches) {
      auto& slot = pending_touches_[key];
      slot = std::max(slot, when);
    }
    pending_fetched_.insert(pending_fetched_.begin(), fetched_offers.begin(), fetched_offers.end());
  }
  return ok;
}

namespace {

// {"name": {"version", "security_version"}}: how the audit chain records
// what a device runs.
common::Json components_json(const std::vector<InventoryReport::Component>& components) {
  common::Json out = common::Json::object();
  for (const auto& c : components) out[c.name] = {{"version", c.version}, {"security_version", c.security_version}};
  return out;
}

// The component versions the device's last accepted report gave.
Result<common::Json> components_locked(sql::Connection& db, const std::string& device_id) {
  auto select = db.prepare(
      "SELECT c.component, c.version, c.security_version FROM device_components c JOIN devices d ON d.key = c.device "
      "WHERE d.id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  auto rows = common::collect(*select, [](const sql::Statement& row) {
    return InventoryReport::Component{row.text(0), row.text(1), row.int64(2)};
  });
  if (!rows) return std::unexpected(rows.error());
  return components_json(*rows);
}

}  // namespace

// The report's component versions, kept apart so the rollout scheduler
// reads them without parsing a million reports.
Status SqlStore::replace_components_locked(Db& db, const std::string& device_id, const InventoryReport& report) {
  auto clear = db.prepare("DELETE FROM device_components WHERE device = (SELECT key FROM devices WHERE id = ?)");
  if (!clear) return std::unexpected(clear.error());
  clear->bind(1, device_id);
  if (auto ok = clear->run(); !ok) return ok;
  auto insert = db.prepare(
      "INSERT INTO device_components (device, component, version, security_version) "
      "SELECT key, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT) FROM devices WHERE id = ?");
  if (!insert) return std::unexpected(insert.error());
  for (const auto& c : report.components) {
    insert->reset();
    insert->bind(1, c.name).bind(2, c.version).bind(3, c.security_version).bind(4, device_id);
    if (auto ok = insert->run(); !ok) return ok;
  }
  auto offset = db.prepare("UPDATE devices SET utc_offset = ? WHERE id = ?");
  if (!offset) return std::unexpected(offset.error());
  offset->bind(1, report.utc_offset).bind(2, device_id);
  return offset->run();
}

Status SqlStore::record_inventory(const std::string& device_id, const InventoryReport& report, const std::string& now) {
  auto db = pool_->acquire();
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto current = db->prepare("SELECT report_counter, tampered FROM devices WHERE id = ?");
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
  // A bounded step: one wrong, huge counter would otherwise leave the
  // device no counter the server accepts.
  if (report.counter - last_counter > kMaxCounterStep) {
    return common::fail(Errc::kReplay, "report counter " + std::to_string(report.counter) + " is more than 2^32 above the last accepted " +
                                           std::to_string(last_counter));
  }
  auto previous = components_locked(*db, device_id);
  if (!previous) return std::unexpected(previous.error());
  auto update = db->prepare(
      "UPDATE devices SET report_counter = ?, inventory = ?, inventory_sig = ?, inventory_digest = ?, "
      "inventory_at = ?, tampered = ? WHERE id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, report.counter).bind(2, report.body).bind(3, report.signature).bind(4, report.digest)
      .bind(5, now).bind(6, std::int64_t{report.tampered ? 1 : 0}).bind(7, device_id);
  if (auto ok = update->run(); !ok) return ok;
  if (auto ok = replace_components_locked(*db, device_id, report); !ok) return ok;
  if (report.tampered != was_tampered) {
    auto entry = append_audit_locked(*db, {"device:" + device_id, report.tampered ? "device.tamper" : "device.tamper_cleared",
                                           "device:" + device_id, "ok", {{"report_counter", report.counter}}});
    if (!entry) return std::unexpected(entry.error());
  }
  // What compliance rows rest on is chained: a report that changes the
  // installed versions or security versions is an entry, naming the
  // report (counter, digest) the change comes from. Unchanged reports are
  // not (a daily report of a fleet would drown the log); they are kept as
  // the device's last signed report.
  auto reported = components_json(report.components);
  if (reported != *previous) {
    auto entry = append_audit_locked(*db, {"device:" + device_id, "device.inventory", "device:" + device_id, "ok",
                                           {{"report_counter", report.counter},
                                            {"report_digest", report.digest},
                                            {"components", reported},
                                            {"previous", *previous}}});
    if (!entry) return std::unexpected(entry.error());
  }
  return commit_change(*db, *tx);
}

}  // namespace flotilla::server
