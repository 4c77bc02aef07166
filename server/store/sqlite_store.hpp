// The embedded store: one SQLite file in WAL mode, one connection guarded
// by a mutex (SQLite has one writer anyway).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "common/sqlite.hpp"
#include "common/time.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

class SqliteStore final : public Store {
 public:
  using Clock = std::function<common::TimePoint()>;
  // Opens (creating) the database and applies pending migrations.
  static common::Result<std::unique_ptr<SqliteStore>> open(const std::string& path, Clock clock = common::now_utc);

  common::Result<std::int64_t> create_token(const TokenRecord& token, const std::string& token_hash,
                                            const AuditDraft& audit) override;
  common::Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) override;
  common::Result<std::vector<TokenRecord>> list_tokens() override;
  common::Status revoke_token(std::int64_t id, const AuditDraft& audit) override;

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
  common::Status issue_device_token(const std::string& device_id, const std::string& token_hash,
                                    const std::string& expires_at) override;
  common::Result<std::optional<DeviceRecord>> find_device_by_token(const std::string& token_hash, const std::string& now) override;
  common::Result<std::optional<DeviceRecord>> find_device(const std::string& id) override;
  common::Result<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) override;
  common::Status set_device_status(const std::string& id, const std::string& status, const AuditDraft& audit) override;
  common::Status set_device_labels(const std::string& id, const std::string& labels_json, const AuditDraft& audit) override;
  common::Status touch_device(std::int64_t device_key, common::TimePoint now) override;
  common::Status record_inventory(const std::string& device_id, const InventoryReport& report, const std::string& now) override;

  common::Result<std::int64_t> create_deployment(const DeploymentRecord& deployment, const std::vector<std::string>& device_ids,
                                                 const AuditDraft& audit) override;
  common::Result<std::optional<DeploymentRecord>> find_deployment(std::int64_t id) override;
  common::Result<std::vector<DeploymentRecord>> list_deployments(std::int64_t limit) override;
  common::Result<std::vector<DeploymentDevice>> deployment_devices(std::int64_t deployment_id) override;
  common::Result<std::vector<DeploymentDevice>> device_deployments(const std::string& device_id) override;
  common::Result<std::vector<DeploymentEvent>> deployment_events(std::int64_t deployment_id, const std::string& device_id) override;
  common::Result<std::optional<Offer>> take_offer(const std::string& device_id, const std::string& now) override;
  common::Result<bool> record_event(std::int64_t deployment_id, const std::string& device_id, const DeploymentEvent& event,
                                    const std::string& now) override;
  common::Result<bool> device_may_download(const std::string& device_id, const std::string& file_sha256) override;
  common::Result<bool> bundle_in_use(const std::string& file_sha256) override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_devices_by_status() override;
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_deployment_states() override;
  common::Result<std::vector<FleetCount>> count_fleet(std::int64_t now) override;

  common::Result<std::int64_t> create_rollout(const RolloutRecord& rollout, const DeploymentRecord& deployment,
                                              const AuditDraft& audit) override;
  common::Result<std::int64_t> next_rollout_id() override;
  common::Result<std::optional<RolloutRecord>> find_rollout(std::int64_t id) override;
  common::Result<std::vector<RolloutRecord>> list_rollouts(const std::vector<std::string>& states, std::int64_t limit) override;
  common::Result<std::vector<RolloutWaveRecord>> rollout_waves(std::int64_t rollout_id) override;
  common::Status scan_rollout_devices(const RolloutRecord& rollout, const std::string& component,
                                      const std::vector<std::string>& device_types,
                                      const std::function<void(RolloutDevice&)>& each) override;
  common::Status transition_rollout(const RolloutTransition& transition, const AuditDraft& audit) override;
  common::Status approve_wave(std::int64_t rollout_id, int wave, const AuditDraft& audit) override;
  common::Status apply_rollout_pass(const RolloutPass& pass) override;
  std::int64_t change_generation() const override { return generation_.load(); }
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

 private:
  SqliteStore(common::Database db, Clock clock) : db_(std::move(db)), clock_(std::move(clock)) {}
  // Writes what polls batch up: last_seen times and offers marked fetched
  // (with their audit entries). mutex_ must be held. Every reader of
  // those rows, and every writer that depends on them, flushes first.
  common::Status flush_batched_locked();
  // Flushes when the batch is large or old enough.
  common::Status maybe_flush_locked();
  // Appends inside the caller's transaction; mutex_ must be held.
  common::Result<signing::AuditEntry> append_audit_locked(const AuditDraft& audit);
  // Runs `body` and an audit append in one transaction.
  common::Status in_transaction(const AuditDraft& audit, const std::function<common::Status()>& body);
  // Inserts a deployment row (its rollout_id too); mutex_ held, in a transaction.
  common::Result<std::int64_t> insert_deployment_locked(const DeploymentRecord& deployment);
  // Checks and applies a rollout state change; mutex_ held, inside a transaction.
  common::Status transition_rollout_locked(const RolloutTransition& transition, const AuditDraft& audit);
  // Inserts or re-arms (a retry) one device's row of a deployment.
  common::Status offer_locked(std::int64_t deployment_id, const std::string& component, const std::string& device_id,
                              std::int64_t now);
  common::Status replace_components_locked(const std::string& device_id, const InventoryReport& report);
  // Runs a two-column (text, integer) query.
  common::Result<std::vector<std::pair<std::string, std::int64_t>>> counts(std::string_view sql);

  std::mutex mutex_;
  std::atomic<std::int64_t> generation_{1};
  common::Database db_;
  Clock clock_;
  std::unordered_map<std::int64_t, std::int64_t> pending_touches_;  // device key -> Unix seconds
  struct Fetched {
    std::int64_t deployment_id;
    std::string device_id, at;
  };
  std::vector<Fetched> pending_fetched_;  // pending offers a device has fetched
  std::chrono::steady_clock::time_point last_touch_flush_ = std::chrono::steady_clock::now();

 public:
  ~SqliteStore() override;
};

}  // namespace flotilla::server
