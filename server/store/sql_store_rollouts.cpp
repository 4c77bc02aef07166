// SqlStore: rollouts, the scheduler's snapshots and the passes it applies.
#include <algorithm>

#include "server/errors.hpp"
#include "server/store/sql_store.hpp"

namespace flotilla::server {

using common::Result;
using common::Status;

namespace {

constexpr std::string_view kRolloutColumns =
    "id, name, policy, bundle, rollback_bundle, deployment_id, rollback_deployment_id, state, reason, status, "
    "acknowledged_failed, acknowledged_finished, created_by, created_at, updated_at";

RolloutRecord rollout_from_row(const sql::Statement& row) {
  // A state this version does not know (a newer server wrote it) reads as
  // aborted: such a rollout is shown, never advanced.
  auto state = parse_rollout_state(row.text(7)).value_or(RolloutState::kAborted);
  return {row.int64(0),  row.text(1),  row.text(2),  row.text(3),  row.optional_text(4),
          row.int64(5),  row.optional_int64(6), state, row.text(8), row.text(9),
          row.int64(10), row.int64(11), row.text(12), row.text(13), row.text(14)};
}

// Device lists in audit entries are cut in chunks, so one entry stays a
// readable size however large the wave.
constexpr std::size_t kDevicesPerAuditEntry = 500;

}  // namespace

Result<std::int64_t> SqlStore::create_rollout(const RolloutRecord& r, const DeploymentRecord& d, const AuditDraft& audit) {
  auto db = pool_->acquire();
  std::int64_t id = 0;
  auto ok = in_transaction(*db, audit, [&]() -> Status {
    auto deployment_id = insert_deployment_locked(*db, d);
    if (!deployment_id) return std::unexpected(deployment_id.error());
    // Ids without gaps (not a sequence): a dry run buckets devices with
    // next_rollout_id(), and the writers' lock makes MAX + 1 safe.
    auto insert = db->prepare(
        "INSERT INTO rollouts (id, name, policy, bundle, rollback_bundle, deployment_id, state, reason, created_by, "
        "created_at, updated_at) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM rollouts), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id");
    if (!insert) return std::unexpected(insert.error());
    insert->bind(1, r.name).bind(2, r.policy_json).bind(3, r.bundle).bind(4, r.rollback_bundle).bind(5, *deployment_id)
        .bind(6, rollout_state_name(r.state)).bind(7, r.reason).bind(8, r.created_by).bind(9, r.created_at).bind(10, r.created_at);
    auto inserted = insert->run_returning_int64();
    if (!inserted) return std::unexpected(inserted.error());
    id = *inserted;
    auto link = db->prepare("UPDATE deployments SET rollout_id = ? WHERE id = ?");
    if (!link) return std::unexpected(link.error());
    link->bind(1, id).bind(2, *deployment_id);
    return link->run();
  }, Change::kScheduling);
  if (!ok) return std::unexpected(ok.error());
  return id;
}

Result<std::int64_t> SqlStore::next_rollout_id() {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT COALESCE(MAX(id), 0) + 1 FROM rollouts");
  if (!select) return std::unexpected(select.error());
  auto row = select->step();
  if (!row) return std::unexpected(row.error());
  return select->int64(0);
}

Result<std::optional<RolloutRecord>> SqlStore::find_rollout(std::int64_t id) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kRolloutColumns) + " FROM rollouts WHERE id = ?");
  if (!select) return std::unexpected(select.error());
  select->bind(1, id);
  return common::first_row(*select, rollout_from_row);
}

Result<std::vector<RolloutRecord>> SqlStore::list_rollouts(const std::vector<RolloutState>& states, std::int64_t limit) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT " + std::string(kRolloutColumns) + " FROM rollouts ORDER BY id DESC");
  if (!select) return std::unexpected(select.error());
  std::vector<RolloutRecord> out;
  for (;;) {
    auto more = select->step();
    if (!more) return std::unexpected(more.error());
    if (!*more || static_cast<std::int64_t>(out.size()) >= limit) break;
    auto rollout = rollout_from_row(*select);
    if (states.empty() || std::find(states.begin(), states.end(), rollout.state) != states.end()) {
      out.push_back(std::move(rollout));
    }
  }
  return out;
}

Result<std::vector<RolloutWaveRecord>> SqlStore::rollout_waves(std::int64_t rollout_id) {
  auto db = pool_->acquire();
  auto select = db->prepare("SELECT wave, completed_at, approved_by FROM rollout_waves WHERE rollout_id = ? ORDER BY wave");
  if (!select) return std::unexpected(select.error());
  select->bind(1, rollout_id);
  return common::collect(*select, [](const sql::Statement& row) {
    return RolloutWaveRecord{static_cast<int>(row.int64(0)), row.optional_int64(1), row.optional_text(2)};
  });
}

Status SqlStore::scan_rollout_devices(const RolloutRecord& rollout, const std::string& component,
                                         const std::vector<std::string>& device_types,
                                         const std::function<void(RolloutDevice&)>& each) {
  // Pages in device-key order through devices_by_type; every other lookup
  // is by primary key or the one-active-deployment index. A connection is
  // held for one page at a time.
  constexpr std::int64_t kPage = 5000;
  {
    auto db = pool_->acquire();
    if (auto flushed = flush_batched(*db); !flushed) return flushed;
  }
  for (const auto& type : device_types) {
    std::int64_t after = 0;
    for (bool more_pages = true; more_pages;) {
      auto db = pool_->acquire();
      auto select = db->prepare(
          "SELECT d.key, d.id, d.device_type, d.labels, d.tampered, d.utc_offset, rd.wave, dd.state, dd.attempts, "
          "  dd.started_at, "
          "  EXISTS (SELECT 1 FROM deployment_devices o WHERE o.device_id = d.id AND o.component = ?3 AND o.active = 1 "
          "          AND o.deployment_id != ?2), "
          "  (SELECT " + std::string(db->string_agg()) + "(c.component || ' ' || c.version, ' ') "
          "   FROM device_components c WHERE c.device = d.key) "
          "FROM devices d "
          "LEFT JOIN rollout_devices rd ON rd.rollout_id = ?1 AND rd.device_id = d.id "
          "LEFT JOIN deployment_devices dd ON dd.deployment_id = ?2 AND dd.device_id = d.id "
          "WHERE d.device_type = ?4 AND d.status = 'accepted' AND d.orphaned = 0 AND d.key > ?5 ORDER BY d.key LIMIT ?6");
      if (!select) return std::unexpected(select.error());
      select->bind(1, rollout.id).bind(2, rollout.deployment_id).bind(3, component).bind(4, type).bind(5, after).bind(6, kPage);
      std::int64_t rows = 0;
      for (;; ++rows) {
        auto more = select->step();
        if (!more) return std::unexpected(more.error());
        if (!*more) break;
        after = select->int64(0);
        RolloutDevice device{.id = select->text(1), .device_type = select->text(2), .labels_json = select->text(3),
                             .tampered = select->int64(4) != 0, .utc_offset = select->optional_text(5)};
        if (auto wave = select->optional_int64(6)) device.wave = static_cast<int>(*wave);
        device.state = select->optional_text(7);
        device.attempts = select->optional_int64(8).value_or(0);
        device.started_at = select->optional_int64(9);
        device.busy = select->int64(10) != 0;
        if (auto versions = select->optional_text(11)) {
          // "component version component version ...": names and versions hold no spaces.
          std::string_view rest = *versions;
          while (!rest.empty()) {
            auto space = rest.find(' ');
            if (space == std::string_view::npos) break;
            auto end = rest.find(' ', space + 1);
            device.versions.emplace_back(std::string(rest.substr(0, space)),
                                         std::string(rest.substr(space + 1, end == std::string_view::npos ? end : end - space - 1)));
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
          }
        }
        each(device);
      }
      more_pages = rows == kPage;
    }
  }
  return {};
}

Status SqlStore::transition_rollout_locked(Db& db, const RolloutTransition& t, const AuditDraft& audit) {
  auto current = db.prepare("SELECT state, deployment_id, bundle FROM rollouts WHERE id = ?");
  if (!current) return std::unexpected(current.error());
  current->bind(1, t.rollout_id);
  auto row = current->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "no rollout " + std::to_string(t.rollout_id));
  std::string state = current->text(0);
  std::int64_t deployment_id = current->int64(1);
  // The table (server/rollout_state.hpp) decides.
  auto from = parse_rollout_state(state);
  auto to = from ? apply_rollout_event(*from, t.event) : std::nullopt;
  if (!to) {
    return common::fail(common::Errc::kConflict, "rollout " + std::to_string(t.rollout_id) + " is " + state + "; it cannot " +
                                                     std::string(rollout_event_name(t.event)));
  }
  std::string now = common::format_rfc3339(clock_());
  common::Json details = audit.details;
  details["from"] = state;
  details["to"] = rollout_state_name(*to);
  if (!t.reason.empty()) details["reason"] = t.reason;
  if (t.withdraw_unfetched) {
    // Offers no device has fetched yet are taken back: a first attempt
    // disappears, a retry returns to the failure it retried.
    auto first = db.prepare("DELETE FROM deployment_devices WHERE deployment_id = ? AND state = 'pending' AND attempts = 1");
    if (!first) return std::unexpected(first.error());
    first->bind(1, deployment_id);
    if (auto ok = first->run(); !ok) return ok;
    std::int64_t withdrawn = db.changes();
    auto retries = db.prepare(
        "UPDATE deployment_devices SET state = 'failed', active = 0, attempts = deployment_devices.attempts - 1, message = 'retry withdrawn', "
        "updated_at = ? WHERE deployment_id = ? AND state = 'pending'");
    if (!retries) return std::unexpected(retries.error());
    retries->bind(1, now).bind(2, deployment_id);
    if (auto ok = retries->run(); !ok) return ok;
    details["offers_withdrawn"] = withdrawn + db.changes();
  }
  if (t.acknowledge_failures) {
    auto ack = db.prepare(
        "UPDATE rollouts SET "
        "acknowledged_failed = (SELECT count(*) FROM deployment_devices WHERE deployment_id = ?1 "
        "  AND state IN ('failed', 'rolled_back', 'timed_out')), "
        "acknowledged_finished = (SELECT count(*) FROM deployment_devices WHERE deployment_id = ?1 "
        "  AND state IN ('succeeded', 'failed', 'rolled_back', 'timed_out')) WHERE id = ?2");
    if (!ack) return std::unexpected(ack.error());
    ack->bind(1, deployment_id).bind(2, t.rollout_id);
    if (auto ok = ack->run(); !ok) return ok;
  }
  std::optional<std::int64_t> rollback_id;
  if (t.rollback) {
    DeploymentRecord d = *t.rollback;
    d.allow_downgrade = true;  // the rollback bundle is the older version
    d.rollout_id = t.rollout_id;
    auto inserted = insert_deployment_locked(db, d);
    if (!inserted) return std::unexpected(inserted.error());
    rollback_id = *inserted;
    details["rollback_deployment"] = *rollback_id;
  }
  auto update = db.prepare(
      "UPDATE rollouts SET state = ?, reason = ?, updated_at = ?, "
      "rollback_deployment_id = COALESCE(?, rollback_deployment_id) WHERE id = ?");
  if (!update) return std::unexpected(update.error());
  update->bind(1, rollout_state_name(*to)).bind(2, t.reason).bind(3, now).bind(4, rollback_id).bind(5, t.rollout_id);
  if (auto ok = update->run(); !ok) return ok;
  AuditDraft entry = audit;
  entry.details = details;
  if (auto appended = append_audit_locked(db, entry); !appended) return std::unexpected(appended.error());
  return {};
}

Status SqlStore::transition_rollout(const RolloutTransition& t, const AuditDraft& audit) {
  auto db = pool_->acquire();
  // Offers already fetched must be known as such before any is withdrawn.
  if (auto ok = flush_batched(*db); !ok) return ok;
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  if (auto ok = transition_rollout_locked(*db, t, audit); !ok) return ok;
  return commit_change(*db, *tx);
}

Status SqlStore::approve_wave(std::int64_t rollout_id, int wave, const AuditDraft& audit) {
  auto db = pool_->acquire();
  return in_transaction(*db, audit, [&]() -> Status {
    auto upsert = db->prepare(
        "INSERT INTO rollout_waves (rollout_id, wave, approved_by, approved_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (rollout_id, wave) DO UPDATE SET approved_by = excluded.approved_by, approved_at = excluded.approved_at "
        "WHERE rollout_waves.approved_by IS NULL");
    if (!upsert) return std::unexpected(upsert.error());
    upsert->bind(1, rollout_id).bind(2, std::int64_t{wave}).bind(3, audit.actor).bind(4, common::format_rfc3339(clock_()));
    return upsert->run();
  }, Change::kScheduling);
}

Status SqlStore::offer_locked(Db& db, std::int64_t deployment_id, const std::string& component, const std::string& device_id,
                              std::int64_t now) {
  // A first attempt inserts the row; a retry re-arms the finished one. A
  // device that meanwhile got another deployment for the component waits
  // (nothing changes): checked here rather than left to the one-active
  // index, since a failed statement ends a PostgreSQL transaction.
  auto upsert = db.prepare(
      "INSERT INTO deployment_devices (deployment_id, device_id, component, state, updated_at, attempts, started_at) "
      "SELECT CAST(?1 AS BIGINT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), 'pending', CAST(?4 AS TEXT), 1, CAST(?5 AS BIGINT) "
      "WHERE NOT EXISTS (SELECT 1 FROM deployment_devices o WHERE o.device_id = ?2 AND o.component = ?3 AND o.active = 1 "
      "                  AND o.deployment_id != ?1) "
      "ON CONFLICT (deployment_id, device_id) DO UPDATE SET state = 'pending', active = 1, "
      "attempts = deployment_devices.attempts + 1, progress = 0, message = '', started_at = excluded.started_at, "
      "updated_at = excluded.updated_at WHERE deployment_devices.active = 0");
  if (!upsert) return std::unexpected(upsert.error());
  upsert->bind(1, deployment_id).bind(2, device_id).bind(3, component).bind(4, common::format_unix_seconds(now)).bind(5, now);
  return upsert->run();
}

Status SqlStore::apply_rollout_pass(const RolloutPass& pass) {
  auto db = pool_->acquire();
  if (auto ok = flush_batched(*db); !ok) return ok;
  auto tx = sql::Transaction::begin(*db);
  if (!tx) return std::unexpected(tx.error());
  if (auto ok = check_scheduler_lease(*db); !ok) return ok;
  auto current = db->prepare(
      "SELECT r.state, r.deployment_id, r.rollback_deployment_id, d.component FROM rollouts r "
      "JOIN deployments d ON d.id = r.deployment_id WHERE r.id = ?");
  if (!current) return std::unexpected(current.error());
  current->bind(1, pass.rollout_id);
  auto row = current->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return common::fail(common::Errc::kNotFound, "no rollout " + std::to_string(pass.rollout_id));
  if (current->text(0) != rollout_state_name(pass.expected_state)) {
    return common::fail(common::Errc::kConflict, "rollout " + std::to_string(pass.rollout_id) + " changed state to " +
                                                     current->text(0) + " during the pass");
  }
  std::int64_t deployment_id = current->int64(1);
  std::optional<std::int64_t> rollback_id = current->optional_int64(2);
  std::string component = current->text(3);
  std::string object = "rollout:" + std::to_string(pass.rollout_id);

  auto audit_devices = [&](const std::string& action, const std::string& cause, const std::vector<std::string>& ids,
                           common::Json extra) -> Status {
    for (std::size_t i = 0; i < ids.size(); i += kDevicesPerAuditEntry) {
      auto end = std::min(ids.size(), i + kDevicesPerAuditEntry);
      common::Json details = extra;
      details["cause"] = cause;
      details["devices"] = std::vector<std::string>(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                                    ids.begin() + static_cast<std::ptrdiff_t>(end));
      if (auto ok = append_audit_locked(*db, {"system:scheduler", action, object, "ok", details}); !ok) {
        return std::unexpected(ok.error());
      }
    }
    return {};
  };

  auto place = db->prepare("INSERT INTO rollout_devices (rollout_id, device_id, wave) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
  if (!place) return std::unexpected(place.error());
  for (const auto& [device, wave] : pass.placed) {
    place->reset();
    place->bind(1, pass.rollout_id).bind(2, device).bind(3, std::int64_t{wave});
    if (auto ok = place->run(); !ok) return ok;
  }

  std::vector<std::string> timed_out;
  auto time_out = db->prepare(
      "UPDATE deployment_devices SET state = 'timed_out', active = 0, updated_at = ? "
      "WHERE deployment_id = ? AND device_id = ? AND active = 1");
  if (!time_out) return std::unexpected(time_out.error());
  for (const auto& device : pass.timed_out) {
    time_out->reset();
    time_out->bind(1, common::format_unix_seconds(pass.now)).bind(2, deployment_id).bind(3, device);
    if (auto ok = time_out->run(); !ok) return ok;
    if (db->changes() > 0) timed_out.push_back(device);
  }
  if (auto ok = audit_devices("rollout.device.timed_out", "timeout", timed_out, {{"to", "timed_out"}}); !ok) return ok;

  auto complete = db->prepare(
      "INSERT INTO rollout_waves (rollout_id, wave, completed_at) VALUES (?, ?, ?) "
      "ON CONFLICT (rollout_id, wave) DO UPDATE SET completed_at = excluded.completed_at WHERE rollout_waves.completed_at IS NULL");
  if (!complete) return std::unexpected(complete.error());
  for (int wave : pass.completed_waves) {
    complete->reset();
    complete->bind(1, pass.rollout_id).bind(2, std::int64_t{wave}).bind(3, pass.now);
    if (auto ok = complete->run(); !ok) return ok;
    if (db->changes() == 0) continue;
    if (auto ok = append_audit_locked(*db, {"system:scheduler", "rollout.wave.completed", object, "ok",
                                       {{"wave", wave}, {"cause", "gate"}}});
        !ok) {
      return std::unexpected(ok.error());
    }
  }

  // Offers: a device that meanwhile got another deployment for the
  // component simply waits (offer_locked changes nothing).
  auto offer_all = [&](std::int64_t into, const std::vector<std::string>& ids, std::vector<std::string>& offered) -> Status {
    for (const auto& device : ids) {
      if (auto ok = offer_locked(*db, into, component, device, pass.now); !ok) return ok;
      if (db->changes() > 0) offered.push_back(device);
    }
    return {};
  };
  std::vector<std::string> offered, rolled_back;
  if (auto ok = offer_all(deployment_id, pass.offers, offered); !ok) return ok;
  if (auto ok = audit_devices("rollout.device.offered", "gate", offered, {{"to", "pending"}, {"deployment", deployment_id}}); !ok) {
    return ok;
  }
  if (rollback_id) {
    if (auto ok = offer_all(*rollback_id, pass.rollback_offers, rolled_back); !ok) return ok;
    if (auto ok = audit_devices("rollout.device.rollback_offered", "abort", rolled_back,
                                {{"to", "pending"}, {"deployment", *rollback_id}});
        !ok) {
      return ok;
    }
  }

  if (pass.transition) {
    if (auto ok = transition_rollout_locked(*db, *pass.transition, {"system:scheduler", "rollout." + std::string(rollout_state_name(rollout_event_target(pass.transition->event))), object,
                                                               "ok", {{"cause", pass.cause}}});
        !ok) {
      return ok;
    }
  }
  // A paused or aborted rollout keeps the reason it stopped for; a live
  // one shows what it waits for.
  auto status = db->prepare(
      "UPDATE rollouts SET status = ?, reason = CASE WHEN state IN ('paused', 'aborted') THEN reason ELSE ? END WHERE id = ?");
  if (!status) return std::unexpected(status.error());
  status->bind(1, pass.status_json).bind(2, pass.reason).bind(3, pass.rollout_id);
  if (auto ok = status->run(); !ok) return ok;
  if (auto ok = tx->commit(); !ok) return ok;
  return refresh_offer_statistics(*db, offered.size() + rolled_back.size());
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::count_rollouts_by_state() {
  return counts("SELECT state, count(*) FROM rollouts GROUP BY state ORDER BY state");
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqlStore::count_rollout_device_states() {
  return counts(
      "SELECT dd.state, count(*) FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id "
      "WHERE d.rollout_id IS NOT NULL GROUP BY dd.state ORDER BY dd.state");
}

}  // namespace flotilla::server
