// SqliteStore: deployments, offers and device events.
#include "server/deployment_state.hpp"
#include "server/errors.hpp"
#include "server/store/sqlite_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

constexpr std::string_view kDeploymentColumns =
    "id, bundle, component, allow_downgrade, deadline, created_by, created_at, rollout_id";

DeploymentRecord deployment_from_row(const common::Statement& row, int first = 0) {
  return {row.int64(first),        row.text(first + 1),          row.text(first + 2), row.int64(first + 3) != 0,
          row.optional_text(first + 4), row.text(first + 5), row.text(first + 6), row.optional_int64(first + 7)};
}

constexpr std::string_view kDeploymentDeviceColumns =
    "deployment_id, device_id, state, active, last_seq, progress, message, running_version, updated_at";

DeploymentDevice deployment_device_from_row(const common::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.int64(3) != 0, row.int64(4),
          row.int64(5), row.text(6), row.optional_text(7), row.text(8)};
}

}  // namespace

Result<std::int64_t> SqliteStore::create_deployment(const DeploymentRecord& d, const std::vector<std::string>& device_ids,
                                                    const AuditDraft& audit) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  std::int64_t id = 0;
  auto ok = in_transaction(audit, [&]() -> Status {
    auto inserted = insert_deployment_locked(d);
    if (!inserted) return std::unexpected(inserted.error());
    id = *inserted;
    auto member = db_.prepare(
        "INSERT INTO deployment_devices (deployment_id, device_id, component, state, updated_at) VALUES (?, ?, ?, 'pending', ?)");
    if (!member) return std::unexpected(member.error());
    for (const auto& device : device_ids) {
      member->reset();
      member->bind(1, id).bind(2, device).bind(3, d.component).bind(4, d.created_at);
      if (auto done = member->run(); !done) {
        if (done.error().is(common::Errc::kConflict)) {
          return common::fail(common::Errc::kConflict,
                              "device " + device + " already has an active deployment for " + d.component);
        }
        return done;
      }
    }
    return {};
  });
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::int64_t> SqliteStore::insert_deployment_locked(const DeploymentRecord& d) {
  auto insert = db_.prepare(
      "INSERT INTO deployments (bundle, component, allow_downgrade, deadline, created_by, created_at, rollout_id) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, d.bundle).bind(2, d.component).bind(3, std::int64_t{d.allow_downgrade ? 1 : 0}).bind(4, d.deadline)
      .bind(5, d.created_by).bind(6, d.created_at).bind(7, d.rollout_id);
  if (auto done = insert->run(); !done) return std::unexpected(done.error());
  return db_.last_insert_rowid();
}

Result<std::optional<DeploymentRecord>> SqliteStore::find_deployment(std::int64_t id) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT " + std::string(kDeploymentColumns) + " FROM deployments WHERE id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return common::first_row(*select, [](const common::Statement& r) { return deployment_from_row(r); });
}

Result<std::vector<DeploymentRecord>> SqliteStore::list_deployments(std::int64_t limit) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT " + std::string(kDeploymentColumns) + " FROM deployments ORDER BY id DESC LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, limit);
  return common::collect(*select, [](const common::Statement& r) { return deployment_from_row(r); });
}

Result<std::vector<DeploymentDevice>> SqliteStore::deployment_devices(std::int64_t deployment_id) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare("SELECT " + std::string(kDeploymentDeviceColumns) +
                            " FROM deployment_devices WHERE deployment_id = ? ORDER BY device_id");
  if (!select) return std::unexpected(select.error());
  select->bind(1, deployment_id);
  return common::collect(*select, deployment_device_from_row);
}

Result<std::vector<DeploymentDevice>> SqliteStore::device_deployments(const std::string& device_id) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare("SELECT " + std::string(kDeploymentDeviceColumns) +
                            " FROM deployment_devices WHERE device_id = ? ORDER BY deployment_id DESC");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  return common::collect(*select, deployment_device_from_row);
}

Result<std::vector<DeploymentEvent>> SqliteStore::deployment_events(std::int64_t deployment_id, const std::string& device_id) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT seq, state, progress, message, time, body, signature FROM deployment_events "
      "WHERE deployment_id = ? AND device_id = ? ORDER BY seq");
  if (!select) return std::unexpected(select.error());
  select->bind(1, deployment_id).bind(2, device_id);
  return common::collect(*select, [](const common::Statement& row) {
    return DeploymentEvent{row.int64(0), row.text(1), row.int64(2), row.text(3), row.text(4), std::nullopt,
                           row.text(5), row.text(6)};
  });
}

Result<std::optional<Offer>> SqliteStore::take_offer(const std::string& device_id, const std::string& now) {
  std::lock_guard lock(mutex_);
  // The hot path: one indexed lookup of the device's active deployments.
  auto select = db_.prepare(
      "SELECT dd.state, d.id, d.bundle, d.component, d.allow_downgrade, d.deadline, d.created_by, d.created_at, d.rollout_id "
      "FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id "
      "WHERE dd.device_id = ? AND dd.active = 1 ORDER BY d.id LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Offer>{};
  Offer offer;
  offer.state = select->text(0);
  offer.deployment = deployment_from_row(*select, 1);
  auto bundle = db_.prepare(
      "SELECT file_sha256, bundle_id, name, kind, component, version, security_version, size, manifest_json, "
      "signer_keyids, uploaded_at, uploaded_by FROM bundles WHERE file_sha256 = ?");
  if (!bundle) return std::unexpected(bundle.error());
  bundle->bind(1, offer.deployment.bundle);
  auto found = bundle->step();
  if (!found) return std::unexpected(found.error());
  if (!*found) return std::optional<Offer>{};
  offer.bundle = {bundle->text(0), bundle->text(1), bundle->text(2), bundle->text(3), bundle->text(4), bundle->text(5),
                  bundle->int64(6), bundle->int64(7), "", "", bundle->text(10), bundle->text(11)};
  if (offer.state == "pending") {
    // Marked fetched in batches, like last_seen: a wave opening to 10,000
    // devices must not cost 10,000 synchronous commits on the poll path.
    // Anything that reads or changes these rows flushes first.
    pending_fetched_.push_back({offer.deployment.id, device_id, now});
    offer.state = "offered";
    if (auto ok = maybe_flush_locked(); !ok) return std::unexpected(ok.error());
  }
  return std::optional<Offer>{std::move(offer)};
}

Result<bool> SqliteStore::record_event(std::int64_t deployment_id, const std::string& device_id, const DeploymentEvent& event,
                                       const std::string& now) {
  std::lock_guard lock(mutex_);
  ++generation_;  // the scheduler looks again
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto tx = common::Transaction::begin(db_);
  if (!tx) return std::unexpected(tx.error());
  auto current = db_.prepare(
      "SELECT state, last_seq FROM deployment_devices WHERE deployment_id = ? AND device_id = ?");
  if (!current) return std::unexpected(current.error());
  current->bind(1, deployment_id).bind(2, device_id);
  auto row = current->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "the device is not part of deployment " + std::to_string(deployment_id));
  std::string state = current->text(0);
  std::int64_t last_seq = current->int64(1);

  // Idempotent on seq: an outbox resending an event changes nothing.
  auto seen = db_.prepare("SELECT 1 FROM deployment_events WHERE deployment_id = ? AND device_id = ? AND seq = ?");
  if (!seen) return std::unexpected(seen.error());
  seen->bind(1, deployment_id).bind(2, device_id).bind(3, event.seq);
  auto duplicate = seen->step();
  if (!duplicate) return std::unexpected(duplicate.error());
  if (*duplicate) return false;
  if (event.seq <= last_seq) {
    return common::fail(Errc::kBadTransition, "event seq " + std::to_string(event.seq) + " is not above " + std::to_string(last_seq));
  }
  if (event.state != state && !can_transition(state, event.state)) {
    return common::fail(Errc::kBadTransition, "a deployment in state " + state + " cannot become " + event.state);
  }
  auto insert = db_.prepare(
      "INSERT INTO deployment_events (deployment_id, device_id, seq, state, progress, message, time, body, signature, received_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, deployment_id).bind(2, device_id).bind(3, event.seq).bind(4, event.state).bind(5, event.progress)
      .bind(6, event.message).bind(7, event.time).bind(8, event.body).bind(9, event.signature).bind(10, now);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  auto update = db_.prepare(
      "UPDATE deployment_devices SET state = ?, active = ?, last_seq = ?, progress = ?, message = ?, "
      "running_version = COALESCE(?, running_version), updated_at = ? WHERE deployment_id = ? AND device_id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, event.state).bind(2, std::int64_t{is_final_state(event.state) ? 0 : 1}).bind(3, event.seq)
      .bind(4, event.progress).bind(5, event.message).bind(6, event.running_version).bind(7, now)
      .bind(8, deployment_id).bind(9, device_id);
  if (auto ok = update->run(); !ok) return std::unexpected(ok.error());
  if (event.state != state) {
    common::Json details = {{"device", device_id}, {"from", state}, {"to", event.state}, {"seq", event.seq}};
    if (event.running_version) details["running_version"] = *event.running_version;
    auto entry = append_audit_locked({"device:" + device_id, "deployment.transition",
                                      "deployment:" + std::to_string(deployment_id),
                                      event.state == "failed" || event.state == "rolled_back" ? "failed" : "ok", details});
    if (!entry) return std::unexpected(entry.error());
  }
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return true;
}

Result<bool> SqliteStore::device_may_download(const std::string& device_id, const std::string& file_sha256) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare(
      "SELECT 1 FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id "
      "WHERE dd.device_id = ? AND d.bundle = ? LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id).bind(2, file_sha256);
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  return *row;
}

Result<bool> SqliteStore::bundle_in_use(const std::string& file_sha256) {
  std::lock_guard lock(mutex_);
  auto select = db_.prepare("SELECT 1 FROM deployments WHERE bundle = ? LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, file_sha256);
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  return *row;
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::counts(std::string_view sql) {
  std::lock_guard lock(mutex_);
  if (auto ok = flush_batched_locked(); !ok) return std::unexpected(ok.error());
  auto select = db_.prepare(sql);
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, [](const common::Statement& row) { return std::pair{row.text(0), row.int64(1)}; });
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::count_devices_by_status() {
  return counts("SELECT status, count(*) FROM devices GROUP BY status ORDER BY status");
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::count_deployment_states() {
  return counts("SELECT state, count(*) FROM deployment_devices GROUP BY state ORDER BY state");
}

}  // namespace flotilla::server
