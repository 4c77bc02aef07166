// SqlStore: deployments, offers and device events.
#include "server/deployment_state.hpp"
#include "server/errors.hpp"
#include "server/store/sql_offer_row.hpp"
#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

constexpr std::string_view kDeploymentColumns =
    "id, bundle, component, allow_downgrade, deadline, created_by, created_at, rollout_id";

DeploymentRecord deployment_from_row(const sql::Statement& row, int first = 0) {
  return {row.int64(first),        row.text(first + 1),          row.text(first + 2), row.int64(first + 3) != 0,
          row.optional_text(first + 4), row.text(first + 5), row.text(first + 6), row.optional_int64(first + 7)};
}

constexpr std::string_view kDeploymentDeviceColumns =
    "deployment_id, device_id, state, active, last_seq, progress, message, running_version, updated_at, interruptions";

DeploymentDevice deployment_device_from_row(const sql::Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.int64(3) != 0, row.int64(4),
          row.int64(5), row.text(6), row.optional_text(7), row.text(8), row.int64(9)};
}

}  // namespace

Result<std::int64_t> SqlStore::create_deployment(const DeploymentRecord& d, const std::vector<std::string>& device_ids,
                                                 const AuditDraft& audit) {
  auto db = pool_->acquire();
  std::int64_t id = 0;
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto inserted = insert_deployment_locked(*db, d);
    if (!inserted) return std::unexpected(inserted.error());
    id = *inserted;
    auto member = db->prepare(
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
  }, Change::kScheduling);
  if (!ok) return std::unexpected(ok.error());
  if (auto refreshed = refresh_offer_statistics(*db, device_ids.size()); !refreshed) return std::unexpected(refreshed.error());
  return id;
}

// Polls read deployment_devices with statements each server prepared
// once; PostgreSQL keeps the plan it chose while the table was small. A
// first rollout adding 100,000 rows to an empty table left that plan
// scanning all of them on every poll (measured: 11.7 ms a poll instead of
// 0.1) until autovacuum's ANALYZE, up to a minute later. ANALYZE right
// after a bulk offer replans every server's statements at once.
Status SqlStore::refresh_offer_statistics(Db& db, std::size_t rows_added) {
  constexpr std::size_t kBulk = 1000;
  if (!shared_ || rows_added < kBulk) return {};
  return db.exec("ANALYZE deployment_devices");
}

Result<std::int64_t> SqlStore::insert_deployment_locked(Db& db, const DeploymentRecord& d) {
  auto insert = db.prepare(
      "INSERT INTO deployments (bundle, component, allow_downgrade, deadline, created_by, created_at, rollout_id) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, d.bundle).bind(2, d.component).bind(3, std::int64_t{d.allow_downgrade ? 1 : 0}).bind(4, d.deadline)
      .bind(5, d.created_by).bind(6, d.created_at).bind(7, d.rollout_id);
  return insert->run_returning_int64();
}

Result<std::optional<DeploymentRecord>> SqlStore::find_deployment(std::int64_t id) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kDeploymentColumns) + " FROM deployments WHERE id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return common::first_row(*select, [](const sql::Statement& r) { return deployment_from_row(r); });
}

Result<std::vector<DeploymentRecord>> SqlStore::list_deployments(std::int64_t limit) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kDeploymentColumns) + " FROM deployments ORDER BY id DESC LIMIT ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, limit);
  return common::collect(*select, [](const sql::Statement& r) { return deployment_from_row(r); });
}

Result<std::vector<DeploymentDevice>> SqlStore::deployment_devices(std::int64_t deployment_id) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare("SELECT " + std::string(kDeploymentDeviceColumns) +
                            " FROM deployment_devices WHERE deployment_id = ? ORDER BY device_id");
  if (!select) return std::unexpected(select.error());
  select->bind(1, deployment_id);
  return common::collect(*select, deployment_device_from_row);
}

Result<std::vector<DeploymentDevice>> SqlStore::device_deployments(const std::string& device_id) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare("SELECT " + std::string(kDeploymentDeviceColumns) +
                            " FROM deployment_devices WHERE device_id = ? ORDER BY deployment_id DESC");
  if (!select) return std::unexpected(select.error());
  select->bind(1, device_id);
  return common::collect(*select, deployment_device_from_row);
}

Result<std::vector<DeploymentEvent>> SqlStore::deployment_events(std::int64_t deployment_id, const std::string& device_id) {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT seq, state, progress, message, time, body, signature FROM deployment_events "
      "WHERE deployment_id = ? AND device_id = ? ORDER BY seq");
  if (!select) return std::unexpected(select.error());
  select->bind(1, deployment_id).bind(2, device_id);
  return common::collect(*select, [](const sql::Statement& row) {
    return DeploymentEvent{row.int64(0), row.text(1), row.int64(2), row.text(3), row.text(4), std::nullopt,
                           row.text(5), row.text(6)};
  });
}

std::optional<Offer> offer_from_row(const sql::Statement& row, int first) {
  auto state = row.optional_text(first);
  if (!state) return std::nullopt;
  return Offer{deployment_from_row(row, first + 1),
               {row.text(first + 9), row.text(first + 10), row.text(first + 11), row.text(first + 12), row.text(first + 13),
                row.text(first + 14), row.int64(first + 15), row.int64(first + 16), "", "", row.text(first + 17),
                row.text(first + 18)},
               *state};
}

Result<std::optional<Offer>> SqlStore::take_offer(const std::string& device_id, const std::string& now,
                                                  std::optional<std::optional<Offer>> read) {
  // Read with the device, and nothing to mark: no connection needed.
  if (read && (!*read || (*read)->state != "pending")) return std::move(*read);
  auto db = pool_->acquire();
  // The hot path: one indexed lookup of the device's active deployments.
  // A second round only when another server changed the offer meanwhile.
  for (int round = 0;; ++round) {
    std::optional<Offer> found;
    if (round == 0 && read) {
      found = std::move(*read);
    } else {
      auto select = db->prepare("SELECT " + std::string(kOfferColumns) +
                                " FROM deployment_devices dd JOIN deployments dep ON dep.id = dd.deployment_id "
                                "JOIN bundles b ON b.file_sha256 = dep.bundle "
                                "WHERE dd.device_id = ? AND dd.active = 1 ORDER BY dep.id LIMIT 1");
      if (!select) return std::unexpected(select.error());
      select->bind(1, device_id);
      auto row = common::first_row(*select, [](const sql::Statement& r) { return offer_from_row(r, 0); });
      if (!row) return std::unexpected(row.error());
      found = row->value_or(std::nullopt);
    }
    auto settled = settle_offer(*db, std::move(found), device_id, now);
    if (!settled) return std::unexpected(settled.error());
    if (*settled) return std::move(**settled);
    if (round > 0) return std::optional<Offer>{};  // still changing: the next poll sees it settled
  }
}

Result<std::optional<std::optional<Offer>>> SqlStore::settle_offer(Db& db, std::optional<Offer> found,
                                                                   const std::string& device_id, const std::string& now) {
  using Settled = std::optional<std::optional<Offer>>;
  if (!found || found->state != "pending") return Settled(std::move(found));
  auto& offer = *found;
  if (!shared_) {
    // Marked fetched in batches, like last_seen: a wave opening to
    // 10,000 devices must not cost 10,000 synchronous commits on the
    // poll path. Anything that reads or changes these rows flushes first.
    {
      std::lock_guard lock(batch_mutex_);
      pending_fetched_.push_back({offer.deployment.id, device_id, now});
    }
    offer.state = "offered";
    if (auto ok = maybe_flush(db); !ok) return std::unexpected(ok.error());
    return Settled(std::move(found));
  }
  auto marked = mark_fetched(db, offer.deployment.id, device_id, now);
  if (!marked) return std::unexpected(marked.error());
  if (!*marked) return Settled();
  offer.state = "offered";
  return Settled(std::move(found));
}

Result<bool> SqlStore::mark_fetched(Db& db, std::int64_t deployment_id, const std::string& device_id, const std::string& now) {
  auto tx = sql::Transaction::begin(db);
  if (!tx) return std::unexpected(tx.error());
  // Under the writers' lock: a pause withdrawing unfetched offers runs
  // either wholly before this (the row is gone) or after (it is offered).
  auto mark = db.prepare(
      "UPDATE deployment_devices SET state = 'offered', updated_at = ? WHERE deployment_id = ? AND device_id = ? "
      "AND state = 'pending' AND active = 1");
  if (!mark) return std::unexpected(mark.error());
  mark->bind(1, now).bind(2, deployment_id).bind(3, device_id);
  if (auto ok = mark->run(); !ok) return std::unexpected(ok.error());
  if (db.changes() == 0) return false;
  auto entry = append_audit_locked(db, {"system:server", "deployment.offered", "deployment:" + std::to_string(deployment_id),
                                        "ok", {{"devices", {device_id}}, {"from", "pending"}, {"to", "offered"}, {"cause", "poll"}}});
  if (!entry) return std::unexpected(entry.error());
  if (auto ok = tx->commit(); !ok) return std::unexpected(ok.error());
  return true;
}

Result<bool> SqlStore::record_event(std::int64_t deployment_id, const std::string& device_id, const DeploymentEvent& event,
                                    const std::string& now) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  auto current = db->prepare(
      "SELECT state, last_seq FROM deployment_devices WHERE deployment_id = ? AND device_id = ?");
  if (!current) return std::unexpected(current.error());
  current->bind(1, deployment_id).bind(2, device_id);
  auto row = current->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "the device is not part of deployment " + std::to_string(deployment_id));
  std::string state = current->text(0);
  std::int64_t last_seq = current->int64(1);
  // seq 0: the server numbers the event (a DDI device's feedback has no
  // sequence of its own), next after the last one, in this transaction.
  if (event.seq == 0) {
    DeploymentEvent numbered = event;
    numbered.seq = last_seq + 1;
    return record_numbered_event(*db, *tx, deployment_id, device_id, numbered, state, now);
  }

  // Idempotent on seq: an outbox resending an event (the same body bytes)
  // changes nothing. A different body under a recorded seq is not a resend.
  auto seen = db->prepare("SELECT body FROM deployment_events WHERE deployment_id = ? AND device_id = ? AND seq = ?");
  if (!seen) return std::unexpected(seen.error());
  seen->bind(1, deployment_id).bind(2, device_id).bind(3, event.seq);
  auto recorded = common::first_row(*seen, [](const sql::Statement& r) { return r.text(0); });
  if (!recorded) return std::unexpected(recorded.error());
  if (*recorded) {
    if (**recorded == event.body) return false;
    return common::fail(Errc::kBadTransition, "event seq " + std::to_string(event.seq) +
                                                  " was recorded with a different body; a new event needs a new seq");
  }
  if (event.seq <= last_seq) {
    return common::fail(Errc::kBadTransition, "event seq " + std::to_string(event.seq) + " is not above " + std::to_string(last_seq));
  }
  return record_numbered_event(*db, *tx, deployment_id, device_id, event, state, now);
}

// Applies an event whose seq is above the last one to a deployment in
// `state`, inside `tx`, and commits.
Result<bool> SqlStore::record_numbered_event(Db& db, sql::Transaction& tx, std::int64_t deployment_id,
                                             const std::string& device_id, const DeploymentEvent& event,
                                             const std::string& state, const std::string& now) {
  auto from = parse_deployment_state(state);
  auto report = parse_recorded_report(event.state);
  if (!from || !report) return common::fail(Errc::kBadTransition, "unknown state " + (from ? event.state : state));
  // The table (server/deployment_state.hpp) decides.
  if (is_final(*from)) {
    return common::fail(Errc::kBadTransition, "the deployment is already " + state + " on this device; it takes no new events");
  }
  auto to = apply_report(*from, *report);
  if (!to) return common::fail(Errc::kBadTransition, "a deployment in state " + state + " cannot become " + event.state);
  // An interruption is recorded as an event; the deployment goes back to
  // downloading (the device takes it again) and counts it, not a failure.
  const bool interruption = *report == DeviceReport::kInterrupted;
  const std::string stored_state(state_name(*to));
  auto insert = db.prepare(
      "INSERT INTO deployment_events (deployment_id, device_id, seq, state, progress, message, time, body, signature, received_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, deployment_id).bind(2, device_id).bind(3, event.seq).bind(4, event.state).bind(5, event.progress)
      .bind(6, event.message).bind(7, event.time).bind(8, event.body).bind(9, event.signature).bind(10, now);
  if (auto ok = insert->run(); !ok) return std::unexpected(ok.error());
  auto update = db.prepare(
      "UPDATE deployment_devices SET state = ?, active = ?, last_seq = ?, progress = ?, message = ?, "
      "running_version = COALESCE(?, running_version), updated_at = ?, interruptions = interruptions + ? "
      "WHERE deployment_id = ? AND device_id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, stored_state).bind(2, std::int64_t{is_final(*to) ? 0 : 1}).bind(3, event.seq)
      .bind(4, event.progress).bind(5, event.message).bind(6, event.running_version).bind(7, now)
      .bind(8, std::int64_t{interruption ? 1 : 0}).bind(9, deployment_id).bind(10, device_id);
  if (auto ok = update->run(); !ok) return std::unexpected(ok.error());
  if (event.state != state) {
    common::Json details = {{"device", device_id}, {"from", state}, {"to", event.state}, {"seq", event.seq}};
    if (event.running_version) details["running_version"] = *event.running_version;
    auto entry = append_audit_locked(db, {"device:" + device_id, "deployment.transition",
                                           "deployment:" + std::to_string(deployment_id),
                                           *to == DeploymentState::kFailed || *to == DeploymentState::kRolledBack ? "failed" : "ok", details});
    if (!entry) return std::unexpected(entry.error());
  }
  if (auto ok = commit_change(db, tx); !ok) return std::unexpected(ok.error());
  return true;
}

Result<bool> SqlStore::device_may_download(const std::string& device_id, const std::string& file_sha256) {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT 1 FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id "
      "WHERE d.bundle = ?2 AND (dd.device_id = ?1 OR dd.device_id IN "
      "(SELECT c.id FROM devices c WHERE c.parent = ?1 AND c.orphaned = 0)) LIMIT 1");
  if (!select) return std::unexpected(select.error());
  // A gateway downloads its children's bundles (docs/gateway.md).
  select->bind(1, device_id).bind(2, file_sha256);
  return select->step();
}

Result<bool> SqlStore::bundle_in_use(const std::string& file_sha256) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT 1 FROM deployments WHERE bundle = ? LIMIT 1");
  if (!select) return std::unexpected(select.error());
  select->bind(1, file_sha256);
  return select->step();
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::counts(std::string_view sql) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return std::unexpected(ok.error());
  auto select = db->prepare(sql);
  if (!select) return std::unexpected(select.error());
  return common::collect(*select, [](const sql::Statement& row) { return std::pair{row.text(0), row.int64(1)}; });
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::count_devices_by_status() {
  return counts("SELECT status, count(*) FROM devices GROUP BY status ORDER BY status");
}

// Accepted devices by how they reach the server: flotilla, ddi, child
// (orphaned children apart, as "child-orphaned").
Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::count_devices_by_protocol() {
  return counts("SELECT CASE WHEN orphaned = 1 THEN protocol || '-orphaned' ELSE protocol END, count(*) FROM devices "
                "WHERE status = 'accepted' GROUP BY 1 ORDER BY 1");
}

Result<InterruptionCount> SqlStore::count_interruptions(std::int64_t deployment_id) {
  auto db = pool_->acquire();
  auto select = db->prepare(
      "SELECT count(*), COALESCE(sum(interruptions), 0) FROM deployment_devices WHERE deployment_id = ? AND interruptions > 0");
  if (!select) return std::unexpected(select.error());
  select->bind(1, deployment_id);
  auto row = common::first_row(*select, [](const sql::Statement& r) { return InterruptionCount{r.int64(0), r.int64(1)}; });
  if (!row) return std::unexpected(row.error());
  return row->value_or(InterruptionCount{});
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::count_deployment_states() {
  return counts("SELECT state, count(*) FROM deployment_devices GROUP BY state ORDER BY state");
}

}  // namespace flotilla::server
