// The store over SQL, one implementation for both engines (sql.hpp):
// - SQLite (the default): one file in WAL mode owned by one server
//   process, one connection (SQLite has one writer anyway);
// - PostgreSQL: several flotilla-server processes on one database, a pool
//   of connections each. Writers are serialised store-wide (one advisory
//   lock), so the audit chain and every check-then-write stay correct
//   under concurrent servers; reads, the poll's among them, run in
//   parallel.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "common/time.hpp"
#include "server/store/sql_pool.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

class SqlStore final : public Store {
 public:
  using Clock = std::function<common::TimePoint()>;
  // Opens the store at `location` (sql::engine_of: "postgres://..." or a
  // SQLite file, created if missing) and applies pending migrations.
  // `connections` sizes PostgreSQL's pool; SQLite always has one.
  static common::Result<std::unique_ptr<SqlStore>> open(const std::string& location, Clock clock = common::now_utc,
                                                        std::size_t connections = 8);

  common::Result<std::int64_t> create_token(const TokenRecord& token, const std::string& token_hash,
                                            const AuditDraft& audit) override;
  common::Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) override;
  common::Result<std::vector<TokenRecord>> list_tokens() override;
  common::Status revoke_token(std::int64_t id, const AuditDraft& audit) override;
  common::Result<TokenRecord> rotate_token(std::int64_t id, const TokenRecord& token, const std::string& token_hash,
                                           const std::string& now, const std::string& old_valid_until,
                                           const AuditDraft& audit) override;

  common::Result<bool> insert_bundle(const BundleRecord& bundle, const AuditDraft& audit) override;
  common::Result<std::vector<BundleRecord>> list_bundles() override;
  common::Result<std::optional<BundleRecord>> find_bundle(const std::string& key) override;
  common::Status delete_bundle(const std::string& file_sha256, const AuditDraft& audit) override;

  common::Result<signing::AuditEntry> append_audit(const AuditDraft& audit) override;
  common::Result<std::vector<signing::AuditEntry>> list_audit(std::int64_t after_seq, std::int64_t limit) override;

  common::Result<std::int64_t> create_enrollment_token(const EnrollmentTokenRecord& token, const std::string& token_hash,
                                                       const AuditDraft& audit) override;
  common::Result<std::vector<EnrollmentTokenRecord>> list_enrollment_tokens() override;
  common::Status revoke_enrollment_token(std::int64_t id, const AuditDraft& audit) override;
  common::Result<DeviceRecord> enroll_device(const DeviceRecord& device, const std::optional<std::string>& enrollment_token_hash,
                                             const std::string& nonce, const std::string& now,
                                             const std::string& nonce_horizon, const AuditDraft& audit) override;
  common::Result<DeviceRecord> create_ddi_device(const DeviceRecord& device, const std::optional<std::string>& token_hash,
                                                 const std::string& now, const AuditDraft& audit) override;
  common::Status set_device_attributes(const std::string& id, const std::string& attributes_json) override;
  common::Status issue_device_token(const std::string& device_id, const std::string& token_hash,
                                    const std::string& expires_at) override;
  common::Result<std::optional<DeviceRecord>> find_device_by_token(const std::string& token_hash, const std::string& now) override;
  common::Result<std::optional<DeviceRecord>> find_device(const std::string& id) override;
  common::Result<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) override;
  common::Status set_device_status(const std::string& id, const std::string& status, const AuditDraft& audit) override;
  common::Status set_device_labels(const std::string& id, const std::string& labels_json, const AuditDraft& audit) override;
  common::Status touch_device(std::int64_t device_key, common::TimePoint now) override;
  common::Status record_inventory(const std::string& device_id, const InventoryReport& report, const std::string& now) override;
  common::Result<DeviceRecord> enroll_child(const DeviceRecord& child, const std::string& now, const AuditDraft& audit) override;
  common::Result<std::vector<PolledDevice>> children_with_offers(const std::string& gateway_id) override;
  common::Status set_device_gateway(const std::string& id, bool gateway, const AuditDraft& audit) override;
  common::Status move_child(const std::string& child, const std::string& gateway, const AuditDraft& audit) override;

  common::Result<std::int64_t> create_deployment(const DeploymentRecord& deployment, const std::vector<std::string>& device_ids,
                                                 const AuditDraft& audit) override;
  common::Result<std::optional<DeploymentRecord>> find_deployment(std::int64_t id) override;
  common::Result<std::vector<DeploymentRecord>> list_deployments(std::int64_t limit) override;
  common::Result<std::vector<DeploymentDevice>> deployment_devices(std::int64_t deployment_id) override;
  common::Result<std::vector<DeploymentDevice>> device_deployments(const std::string& device_id) override;
  common::Result<std::vector<DeploymentEvent>> deployment_events(std::int64_t deployment_id, const std::string& device_id) override;
  common::Result<std::optional<Offer>> take_offer(const std::string& device_id, const std::string& now,
                                                  std::optional<std::optional<Offer>> read = std::nullopt) override;
  common::Result<std::optional<PolledDevice>> find_device_and_offer(const std::string& token_hash,
                                                                    const std::string& now) override;
  common::Result<bool> record_event(std::int64_t deployment_id, const std::string& device_id, const DeploymentEvent& event,
                                    const std::string& now) override;
  common::Result<bool> device_may_download(const std::string& device_id, const std::string& file_sha256) override;
  common::Result<bool> bundle_in_use(const std::string& file_sha256) override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_devices_by_status() override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_deployment_states() override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_devices_by_protocol() override;
  common::Result<InterruptionCount> count_interruptions(std::int64_t deployment_id) override;
  common::Result<std::vector<FleetCount>> count_fleet(std::int64_t now) override;

  common::Result<std::int64_t> create_rollout(const RolloutRecord& rollout, const DeploymentRecord& deployment,
                                              const AuditDraft& audit) override;
  common::Result<std::int64_t> next_rollout_id() override;
  common::Result<std::optional<RolloutRecord>> find_rollout(std::int64_t id) override;
  common::Result<std::vector<RolloutRecord>> list_rollouts(const std::vector<RolloutState>& states, std::int64_t limit) override;
  common::Result<std::vector<RolloutWaveRecord>> rollout_waves(std::int64_t rollout_id) override;
  common::Status scan_rollout_devices(const RolloutRecord& rollout, const std::string& component,
                                      const std::vector<std::string>& device_types,
                                      const std::function<void(RolloutDevice&)>& each) override;
  common::Status transition_rollout(const RolloutTransition& transition, const AuditDraft& audit) override;
  common::Status approve_wave(std::int64_t rollout_id, int wave, const AuditDraft& audit) override;
  common::Status apply_rollout_pass(const RolloutPass& pass) override;
  std::int64_t change_generation() override;
  common::Result<bool> hold_scheduler_lease() override;
  common::Status copy_to(const std::string& path, const std::function<void(int, int)>& progress) override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_rollouts_by_state() override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_rollout_device_states() override;

  common::Result<bool> put_baseline(const BaselineRecord& baseline, const AuditDraft& audit) override;
  common::Result<std::vector<BaselineRecord>> list_baselines() override;
  common::Result<std::optional<BaselineRecord>> find_baseline(const std::string& name) override;
  common::Status delete_baseline(const std::string& name, const AuditDraft& audit) override;

  common::Result<std::vector<ComplianceDevice>> scan_compliance(const ComplianceScan& scan) override;
  common::Result<std::optional<InventoryReport>> signed_inventory(const std::string& device_id) override;
  common::Result<signing::ChainHead> audit_head() override;

  common::Result<std::optional<std::string>> setting(const std::string& key) override;
  common::Status set_settings(const std::vector<std::pair<std::string, std::string>>& values,
                              const AuditDraft& audit) override;
  common::Status set_settings_if(const std::string& key, const std::optional<std::string>& expected,
                                 const std::vector<std::pair<std::string, std::string>>& values,
                                 const AuditDraft& audit) override;

 private:
  SqlStore(std::unique_ptr<sql::ConnectionPool> pool, sql::ConnectionPool::Factory factory, Clock clock);
  using Db = sql::Connection;

  // Writes what polls batch up: last_seen times and (SQLite only) offers
  // marked fetched, with their audit entries. Every reader of those rows,
  // and every writer that depends on them, flushes first.
  common::Status flush_batched(Db& db);
  // Flushes when the batch is large or old enough.
  common::Status maybe_flush(Db& db);
  // Appends inside the caller's write transaction.
  common::Result<signing::AuditEntry> append_audit_locked(Db& db, const AuditDraft& audit);
  // Whether a write is one the rollout scheduler depends on (see
  // change_generation).
  enum class Change { kQuiet, kScheduling };
  // Sets revoked = 1 on the row `id` of `table` (tokens, enrollment
  // tokens), audited; kNotFound names `what` when no active row matched.
  common::Status revoke_row(const char* table, std::int64_t id, const std::string& what, const AuditDraft& audit);
  // Runs `body` and an audit append in one write transaction.
  common::Status in_transaction(Db& db, const AuditDraft& audit, const std::function<common::Status()>& body,
                                Change change = Change::kQuiet);
  // Commits, then tells the scheduler (of whichever server runs it) that
  // something it depends on changed. After the commit: a scheduler that
  // saw the new generation also sees the write.
  common::Status commit_change(Db& db, sql::Transaction& tx);
  common::Result<bool> record_numbered_event(Db& db, sql::Transaction& tx, std::int64_t deployment_id,
                                             const std::string& device_id, const DeploymentEvent& event,
                                             const std::string& state, const std::string& now);
  // Inserts a deployment row (its rollout_id too), inside a transaction.
  common::Result<std::int64_t> insert_deployment_locked(Db& db, const DeploymentRecord& deployment);
  // Checks and applies a rollout state change, inside a transaction.
  common::Status transition_rollout_locked(Db& db, const RolloutTransition& transition, const AuditDraft& audit);
  // Inserts or re-arms (a retry) one device's row of a deployment, unless
  // the device has another active deployment for the component.
  common::Status offer_locked(Db& db, std::int64_t deployment_id, const std::string& component, const std::string& device_id,
                              std::int64_t now);
  // A gateway that stops being accepted leaves its children orphaned
  // (audited): they stay where they are until an operator moves them.
  common::Status orphan_children_locked(Db& db, const std::string& gateway_id);
  common::Status replace_components_locked(Db& db, const std::string& device_id, const InventoryReport& report);
  // Marks a fetched offer offered at once, in its own transaction (a
  // store other servers share cannot keep it in a batch). False when the
  // offer was no longer pending: withdrawn, or marked by another server.
  common::Result<bool> mark_fetched(Db& db, std::int64_t deployment_id, const std::string& device_id, const std::string& now);
  // After a write that added `rows_added` offers: ANALYZE on PostgreSQL
  // when they are many, so that cached poll plans are made again.
  common::Status refresh_offer_statistics(Db& db, std::size_t rows_added);
  // The offer a device read, with a pending one marked fetched (in the
  // batch, or at once in a shared store); nullopt when another server
  // changed it meanwhile and it must be read again.
  common::Result<std::optional<std::optional<Offer>>> settle_offer(Db& db, std::optional<Offer> found,
                                                                   const std::string& device_id, const std::string& now);
  // Fails with kNotScheduler unless this process holds the scheduler
  // lease; inside the pass's transaction.
  common::Status check_scheduler_lease(Db& db);
  common::Status upsert_settings_locked(Db& db, const std::vector<std::pair<std::string, std::string>>& values);
  // Runs a two-column (text, integer) query.
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> counts(std::string_view sql);

  std::unique_ptr<sql::ConnectionPool> pool_;
  sql::ConnectionPool::Factory factory_;
  // Other servers may use the database: no batched offer marks, the
  // change generation and the scheduler lease live in the database.
  const bool shared_;
  std::atomic<std::int64_t> generation_{1};  // when not shared_
  Clock clock_;

  std::mutex batch_mutex_;
  std::unordered_map<std::int64_t, std::int64_t> pending_touches_;  // device key -> Unix seconds
  struct Fetched {
    std::int64_t deployment_id;
    std::string device_id, at;
  };
  std::vector<Fetched> pending_fetched_;  // pending offers a device has fetched (not shared_)
  std::chrono::steady_clock::time_point last_flush_ = std::chrono::steady_clock::now();

  // The scheduler lease of a shared store: a session advisory lock held
  // by a connection of its own, whose backend pid the pass checks.
  std::mutex lease_mutex_;
  std::unique_ptr<sql::Connection> lease_connection_;
  std::atomic<std::int64_t> lease_pid_{0};  // 0: not held

 public:
  ~SqlStore() override;
};

}  // namespace flotilla::server
