#include "client/gateway_state.hpp"

#include <array>

#include "common/rows.hpp"

namespace flotilla::client {

namespace {

constexpr std::array<std::string_view, 1> kMigrations = {
    R"sql(
CREATE TABLE children (
  device_id    TEXT PRIMARY KEY,   -- the server's id: SHA-256 of "flotilla-child:<type>:<id>"
  child_id     TEXT NOT NULL,
  device_type  TEXT NOT NULL,
  adapter      TEXT NOT NULL,
  identity     TEXT NOT NULL DEFAULT '{}',  -- JSON object, as the adapter lists it
  counter      INTEGER NOT NULL DEFAULT 0,
  sent         TEXT,
  sent_at      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE child_updates (
  device_id      TEXT PRIMARY KEY,
  deployment_id  INTEGER NOT NULL,
  file_sha256    TEXT NOT NULL,
  component      TEXT NOT NULL,
  version        TEXT NOT NULL,
  stage          TEXT NOT NULL,
  message        TEXT NOT NULL DEFAULT '',
  seq            INTEGER NOT NULL DEFAULT 0   -- the child's last event seq: only grows
);
CREATE TABLE gateway_settings (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
CREATE TABLE child_outbox (
  id               INTEGER PRIMARY KEY,
  device_id        TEXT NOT NULL,
  deployment_id    INTEGER NOT NULL,
  seq              INTEGER NOT NULL,
  state            TEXT NOT NULL,
  progress         INTEGER NOT NULL,
  message          TEXT NOT NULL,
  time             TEXT NOT NULL,
  running_version  TEXT
);
)sql",
};

KnownChild child_from_row(const common::Statement& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3), row.text(4), row.int64(5), row.optional_text(6), row.int64(7)};
}

}  // namespace

common::Result<std::unique_ptr<GatewayState>> GatewayState::open(const std::filesystem::path& state_dir) {
  auto db = common::Database::open((state_dir / "gateway.db").string());
  if (!db) return std::unexpected(db.error());
  if (auto ok = db->migrate(kMigrations); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<GatewayState>(new GatewayState(std::move(*db)));
}

common::Status GatewayState::remember_child(const KnownChild& child) {
  std::lock_guard lock(mutex_);
  auto upsert = db_.prepare(
      "INSERT INTO children (device_id, child_id, device_type, adapter, identity) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (device_id) DO UPDATE SET adapter = excluded.adapter, identity = excluded.identity");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, child.device_id).bind(2, child.child_id).bind(3, child.device_type).bind(4, child.adapter)
      .bind(5, child.identity);
  return upsert->run();
}

common::Result<std::optional<KnownChild>> GatewayState::child(const std::string& device_id) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT device_id, child_id, device_type, adapter, identity, counter, sent, sent_at FROM children WHERE device_id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  return common::first_row(*select, child_from_row);
}

common::Status GatewayState::set_inventory_sent(const std::string& device_id, std::int64_t counter, const std::string& content,
                                                std::int64_t at) {
  std::lock_guard lock(mutex_);
  auto update = db_.prepare("UPDATE children SET counter = ?, sent = ?, sent_at = ? WHERE device_id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, counter).bind(2, content).bind(3, at).bind(4, device_id);
  return update->run();
}

common::Status GatewayState::set_counter(const std::string& device_id, std::int64_t counter) {
  std::lock_guard lock(mutex_);
  auto update = db_.prepare("UPDATE children SET counter = ? WHERE device_id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, counter).bind(2, device_id);
  return update->run();
}

common::Result<std::int64_t> GatewayState::last_scan() {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT value FROM gateway_settings WHERE key = 'last_scan'");
  if (!select) return std::unexpected(select.error());
  auto row = common::first_row(*select, [](const common::Statement& r) { return r.text(0); });
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::int64_t{0};
  try {
    return std::stoll(**row);
  } catch (...) {
    return std::int64_t{0};  // unreadable: scan now
  }
}

common::Status GatewayState::set_last_scan(std::int64_t unix_seconds) {
  std::lock_guard lock(mutex_);
  auto upsert = db_.prepare(
      "INSERT INTO gateway_settings (key, value) VALUES ('last_scan', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, std::to_string(unix_seconds));
  return upsert->run();
}

common::Result<std::optional<ChildUpdate>> GatewayState::update(const std::string& device_id) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT device_id, deployment_id, file_sha256, component, version, stage, message FROM child_updates WHERE device_id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  return common::first_row(*select, [](const common::Statement& row) {
    return ChildUpdate{row.text(0), row.int64(1), row.text(2), row.text(3), row.text(4), row.text(5), row.text(6)};
  });
}

common::Status GatewayState::queue_locked(const ChildUpdate& u, const std::string& state, int progress,
                                          const std::optional<std::string>& running_version, const std::string& time) {
  auto bump = db_.prepare("UPDATE child_updates SET seq = seq + 1 WHERE device_id = ? RETURNING seq");
  if (!bump) return std::unexpected(bump.error());
  bump->bind(1, u.device_id);
  auto row = bump->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "no update for child " + u.device_id);
  std::int64_t seq = bump->int64(0);
  bump->reset();
  auto insert = db_.prepare(
      "INSERT INTO child_outbox (device_id, deployment_id, seq, state, progress, message, time, running_version) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, u.device_id).bind(2, u.deployment_id).bind(3, seq).bind(4, state).bind(5, std::int64_t{progress})
      .bind(6, u.message.substr(0, 1000)).bind(7, time).bind(8, running_version);
  return insert->run();
}

common::Status GatewayState::advance(const ChildUpdate& u, const std::string& event_state, int progress,
                                     const std::optional<std::string>& running_version, const std::string& time) {
  std::lock_guard lock(mutex_);
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto upsert = db_.prepare(
      "INSERT INTO child_updates (device_id, deployment_id, file_sha256, component, version, stage, message) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET deployment_id = excluded.deployment_id, "
      "file_sha256 = excluded.file_sha256, component = excluded.component, version = excluded.version, "
      "stage = excluded.stage, message = excluded.message");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, u.device_id).bind(2, u.deployment_id).bind(3, u.file_sha256).bind(4, u.component).bind(5, u.version)
      .bind(6, u.stage).bind(7, u.message);
  if (auto ok = upsert->run(); !ok) return ok;
  if (!event_state.empty()) {
    if (auto ok = queue_locked(u, event_state, progress, running_version, time); !ok) return ok;
  }
  return tx->commit();
}

common::Status GatewayState::queue_progress(const ChildUpdate& u, int progress, const std::string& time) {
  std::lock_guard lock(mutex_);
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  if (auto ok = queue_locked(u, "installing", progress, std::nullopt, time); !ok) return ok;
  return tx->commit();
}

common::Result<std::vector<GatewayState::Event>> GatewayState::pending_events(std::int64_t limit) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT id, device_id, deployment_id, seq, state, progress, message, time, running_version FROM child_outbox "
      "ORDER BY id LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, limit);
  return common::collect(*select, [](const common::Statement& row) {
    return Event{row.int64(0), row.text(1), row.int64(2), row.int64(3), row.text(4),
                 static_cast<int>(row.int64(5)), row.text(6), row.text(7), row.optional_text(8)};
  });
}

common::Status GatewayState::drop_event(std::int64_t id) {
  std::lock_guard lock(mutex_);
  auto remove = db_.prepare("DELETE FROM child_outbox WHERE id = ?");
  if (!remove) return std::unexpected(remove.error());
  remove->bind(1, id);
  return remove->run();
}

}  // namespace flotilla::client
