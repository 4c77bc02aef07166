#include "client/state_store.hpp"

#include <array>

#include "common/json.hpp"

namespace flotilla::client {

namespace {

constexpr std::array<std::string_view, 1> kMigrations = {
    R"sql(
CREATE TABLE components (
  name              TEXT PRIMARY KEY,
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL    -- advances only on commit
);
-- One row: the update in progress or the last one's outcome.
CREATE TABLE update_state (
  id                INTEGER PRIMARY KEY CHECK (id = 1),
  state             TEXT NOT NULL,
  deployment_id     INTEGER,
  bundle_id         TEXT NOT NULL DEFAULT '',
  component         TEXT NOT NULL DEFAULT '',
  version           TEXT NOT NULL DEFAULT '',
  security_version  INTEGER NOT NULL DEFAULT 0,
  target_slot       TEXT NOT NULL DEFAULT '',
  boot_id           TEXT NOT NULL DEFAULT '',
  previous_version  TEXT NOT NULL DEFAULT '',
  error             TEXT NOT NULL DEFAULT '',
  updated_at        TEXT NOT NULL
);
-- Events for the server, resent until acknowledged (seq per deployment).
CREATE TABLE outbox (
  id             INTEGER PRIMARY KEY,
  deployment_id  INTEGER,
  seq            INTEGER NOT NULL,
  state          TEXT NOT NULL,
  message        TEXT NOT NULL,
  running_version TEXT,
  time           TEXT NOT NULL,
  sent           INTEGER NOT NULL DEFAULT 0  -- the newest sent row of a deployment stays: seq continues from it
);
CREATE TABLE settings (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
)sql",
};

}  // namespace

common::Result<StateStore> StateStore::open(const std::filesystem::path& state_dir,
                                            const std::map<std::string, ComponentState>& initial, Env& env) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return common::fail(common::Errc::kIo, "cannot create " + state_dir.string() + ": " + ec.message());
  auto db = common::Database::open((state_dir / "agent.db").string());
  if (!db) return std::unexpected(db.error());
  if (auto ok = db->migrate(kMigrations); !ok) return std::unexpected(ok.error());
  StateStore store(std::move(*db), env);
  auto tx = common::Transaction::begin(store.db_);
  if (!tx) return std::unexpected(tx.error());
  auto insert = store.db_.prepare("INSERT OR IGNORE INTO components (name, version, security_version) VALUES (?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  for (const auto& [name, c] : initial) {
    insert->reset();
    insert->bind(1, name).bind(2, c.version).bind(3, c.security_version);
    if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  }
  auto idle = store.db_.prepare("INSERT OR IGNORE INTO update_state (id, state, updated_at) VALUES (1, ?, ?)");
  if (!idle) return std::unexpected(idle.error());
  idle->bind(1, stage_name(Stage::kIdle)).bind(2, common::format_rfc3339(env.now()));
  if (auto ok = idle->run(); !ok) return std::unexpected(ok.error());
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return store;
}

common::Result<std::map<std::string, ComponentState>> StateStore::components() {
  auto select = db_.prepare("SELECT name, version, security_version FROM components ORDER BY name");
  if (!select) return std::unexpected(select.error());
  std::map<std::string, ComponentState> out;
  auto rows = common::collect(*select, [](const common::Statement& row) {
    return std::pair{row.text(0), ComponentState{row.text(1), row.int64(2)}};
  });
  if (!rows) return std::unexpected(rows.error());
  for (auto& [name, state] : *rows) out.emplace(std::move(name), std::move(state));
  return out;
}

common::Result<UpdateState> StateStore::update() {
  auto select = db_.prepare(
      "SELECT state, deployment_id, bundle_id, component, version, security_version, target_slot, boot_id, previous_version, "
      "error, updated_at FROM update_state WHERE id = 1");
  if (!select) return std::unexpected(select.error());
  std::string stored;
  auto row = common::first_row(*select, [&stored](const common::Statement& r) {
    stored = r.text(0);
    return UpdateState{Stage::kIdle, r.optional_int64(1), r.text(2), r.text(3), r.text(4), r.int64(5),
                       r.text(6),    r.text(7),           r.text(8), r.text(9), r.text(10)};
  });
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kDatabase, "the agent's state has no update row");
  auto stage = parse_stage(stored);
  if (!stage) return common::fail(common::Errc::kDatabase, "the agent's state holds an unknown update stage \"" + stored + "\"");
  (*row)->state = *stage;
  return **row;
}

common::Status StateStore::queue_event_locked(const UpdateState& u, const std::string& message) {
  // A local install has no deployment on the server to report to; its
  // result reaches the server through the next inventory report.
  if (!u.deployment_id) return {};
  auto insert = db_.prepare(
      "INSERT INTO outbox (deployment_id, seq, state, message, running_version, time) "
      "VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE deployment_id IS ?1), ?2, ?3, ?4, ?5)");
  if (!insert) return std::unexpected(insert.error());
  std::optional<std::string> running;
  if (u.state == Stage::kCommitted) running = u.version;
  if ((u.state == Stage::kRolledBack || u.state == Stage::kFailed) && !u.previous_version.empty()) running = u.previous_version;
  insert->bind(1, u.deployment_id).bind(2, stage_name(u.state)).bind(3, message.empty() ? u.error : message).bind(4, running)
      .bind(5, u.updated_at);
  return insert->run();
}

common::Status StateStore::set_update(const UpdateState& u, const std::string& message) {
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto write = db_.prepare(
      "UPDATE update_state SET state = ?, deployment_id = ?, bundle_id = ?, component = ?, version = ?, "
      "security_version = ?, target_slot = ?, boot_id = ?, previous_version = ?, error = ?, updated_at = ? WHERE id = 1");
  if (!write) return std::unexpected(write.error());
  write->bind(1, stage_name(u.state)).bind(2, u.deployment_id).bind(3, u.bundle_id).bind(4, u.component).bind(5, u.version)
      .bind(6, u.security_version).bind(7, u.target_slot).bind(8, u.boot_id).bind(9, u.previous_version).bind(10, u.error)
      .bind(11, u.updated_at);
  if (auto ok = write->run(); !ok) return ok;
  if (auto ok = queue_event_locked(u, message); !ok) return ok;
  if (auto ok = tx->commit(); !ok) return ok;
  // A stage is a fault point the moment it is durable, before its action.
  env_->reached(stage_name(u.state));
  return {};
}

common::Status StateStore::set_component(const std::string& name, const ComponentState& c) {
  auto upsert = db_.prepare(
      "INSERT INTO components (name, version, security_version) VALUES (?, ?, ?) "
      "ON CONFLICT (name) DO UPDATE SET version = excluded.version, security_version = excluded.security_version");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, name).bind(2, c.version).bind(3, c.security_version);
  return upsert->run();
}

common::Status StateStore::commit_update(const UpdateState& u) {
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  // The stored security version never goes down (DESIGN.md §3).
  auto current = components();
  if (!current) return std::unexpected(current.error());
  std::int64_t security = u.security_version;
  if (auto it = current->find(u.component); it != current->end()) security = std::max(security, it->second.security_version);
  if (auto ok = set_component(u.component, {u.version, security}); !ok) return ok;
  auto write = db_.prepare("UPDATE update_state SET state = ?, error = '', updated_at = ? WHERE id = 1");
  if (!write) return std::unexpected(write.error());
  write->bind(1, stage_name(u.state)).bind(2, u.updated_at);
  if (auto ok = write->run(); !ok) return ok;
  if (auto ok = queue_event_locked(u, "committed"); !ok) return ok;
  if (auto ok = tx->commit(); !ok) return ok;
  env_->reached(stage_name(u.state));
  return {};
}

common::Status StateStore::set_rollback_files(const std::vector<std::string>& paths) {
  return set_setting("rollback_files", common::Json(paths).dump());
}

common::Result<std::vector<std::string>> StateStore::rollback_files() {
  auto row = setting("rollback_files");
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::vector<std::string>{};
  auto parsed = common::Json::parse(**row, nullptr, false);
  if (!parsed.is_array()) return std::vector<std::string>{};
  std::vector<std::string> out;
  for (const auto& p : parsed) {
    if (p.is_string()) out.push_back(p.get<std::string>());
  }
  return out;
}

common::Result<std::vector<StateStore::Event>> StateStore::pending_events(std::int64_t limit) {
  auto select = db_.prepare(
      "SELECT id, deployment_id, seq, state, message, time, running_version FROM outbox WHERE sent = 0 ORDER BY id LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, limit);
  // A stage this agent does not know (a row a newer agent wrote) reads as
  // idle, which the server refuses: the row is then dropped, not resent forever.
  return common::collect(*select, [](const common::Statement& r) {
    return Event{r.int64(0), r.int64(1), r.int64(2), parse_stage(r.text(3)).value_or(Stage::kIdle), r.text(4), r.text(5),
                 r.optional_text(6)};
  });
}

common::Status StateStore::drop_event(std::int64_t id) {
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto mark = db_.prepare("UPDATE outbox SET sent = 1 WHERE id = ?");
  if (!mark) return std::unexpected(mark.error());
  mark->bind(1, id);
  if (auto ok = mark->run(); !ok) return ok;
  // Older sent rows of the deployment go; the newest keeps its seq.
  auto prune = db_.prepare(
      "DELETE FROM outbox WHERE sent = 1 AND deployment_id = (SELECT deployment_id FROM outbox WHERE id = ?1) AND id < ?1");
  if (!prune) return std::unexpected(prune.error());
  prune->bind(1, id);
  if (auto ok = prune->run(); !ok) return ok;
  return tx->commit();
}

common::Result<std::optional<std::string>> StateStore::setting(const std::string& key) {
  auto select = db_.prepare("SELECT value FROM settings WHERE key = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, key);
  return common::first_row(*select, [](const common::Statement& r) { return r.text(0); });
}

common::Status StateStore::set_setting(const std::string& key, const std::string& value) {
  auto upsert = db_.prepare("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, key).bind(2, value);
  return upsert->run();
}

common::Result<std::int64_t> StateStore::outbox_size() {
  auto select = db_.prepare("SELECT count(*) FROM outbox WHERE sent = 0");
  if (!select) return std::unexpected(select.error());
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  return select->int64(0);
}

common::Result<common::TimePoint> StateStore::trusted_time() {
  auto row = setting("trusted_time");
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::TimePoint{};
  auto parsed = common::parse_rfc3339(**row);
  if (!parsed) return common::TimePoint{};
  return *parsed;
}

common::Status StateStore::raise_trusted_time(common::TimePoint seen) {
  auto current = trusted_time();
  if (!current) return std::unexpected(current.error());
  if (seen <= *current) return {};
  return set_setting("trusted_time", common::format_rfc3339(seen));
}

}  // namespace flotilla::client
