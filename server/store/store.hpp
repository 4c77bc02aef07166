// The server's storage interface. Handlers talk only to this, so a
// PostgreSQL implementation can follow without touching them (DESIGN.md
// §10). Every mutating call takes the audit entry describing it and writes
// both in one transaction: an acknowledged action always has its entry.
//
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "server/rollout_state.hpp"
#include "signing/audit_chain.hpp"

namespace flotilla::server {

// Live bearer tokens per device (docs/device-protocol.md, "Tokens").
inline constexpr std::int64_t kLiveDeviceTokens = 8;
// Inventory counters and event seqs are 1..kMaxDeviceCounter (exact in
// every JSON implementation), and a counter moves at most kMaxCounterStep
// past the last accepted one.
inline constexpr std::int64_t kMaxDeviceCounter = (std::int64_t{1} << 53) - 1;
inline constexpr std::int64_t kMaxCounterStep = std::int64_t{1} << 32;

// What the caller knows of an audit entry; the store assigns seq, time
// link and hash.
struct AuditDraft {
  std::string actor;
  std::string action;
  std::string object;
  std::string outcome = "ok";
  common::Json details = common::Json::object();
};

struct TokenRecord {
  std::int64_t id = 0;
  std::string name;
  std::string role;
  std::string created_at;
  std::optional<std::string> expires_at;
  bool revoked = false;
};

struct BundleRecord {
  std::string file_sha256;     // digest of the whole .flb: its key
  std::string bundle_id;       // digest of the manifest payload
  std::string name, kind, component, version;
  std::int64_t security_version = 0;
  std::int64_t size = 0;
  std::string manifest_json;   // the verified manifest, as parsed
  std::string signer_keyids_json;
  std::string uploaded_at;
  std::string uploaded_by;
};

struct EnrollmentTokenRecord {
  std::int64_t id = 0;
  std::string name;
  std::string device_types_json;  // JSON array of device types it may enroll
  std::int64_t max_uses = 1;
  std::int64_t uses = 0;
  std::string expires_at;
  std::string created_at;
  bool revoked = false;
  bool gateway = false;  // a device it enrolls may enroll children (docs/gateway.md)
};

struct DeviceRecord {
  std::int64_t key = 0;      // the store's internal number for the device
  std::string id;            // key id of the device key
  std::string device_type;
  std::string identity_json;
  std::string public_key;    // PEM
  std::string status;        // pending | accepted | rejected | decommissioned
  std::string labels_json = "{}";
  std::string created_at;
  std::optional<std::string> last_seen;
  std::int64_t report_counter = 0;
  std::optional<std::string> inventory;         // last signed report body, verbatim
  std::optional<std::string> inventory_digest;
  std::optional<std::string> inventory_at;
  bool tampered = false;
  std::optional<std::string> utc_offset;  // "+01:00", as last reported
  std::string protocol = "flotilla";      // flotilla | ddi (docs/ddi.md)
  std::optional<std::string> attributes;  // ddi: the last configData, a JSON object
  // Field gateways (docs/gateway.md). A child (protocol "child") has no
  // key of its own: its gateway (`parent`) signs its reports.
  std::optional<std::string> parent;      // a child's gateway (its device id)
  std::optional<std::string> child_id;    // the id the gateway's adapter gives a child
  bool gateway = false;                   // may enroll children
  bool orphaned = false;                  // a child whose gateway was decommissioned or rejected
};

struct DeviceFilter {
  std::optional<std::string> device_type;
  std::optional<std::string> status;
  std::optional<std::pair<std::string, std::string>> label;
  std::optional<std::string> seen_before;  // RFC 3339: not seen since
  std::optional<std::string> seen_after;
  std::optional<bool> tampered;
  std::optional<std::string> protocol;  // flotilla | ddi | child
  std::optional<std::string> parent;    // children of this gateway
  std::int64_t limit = 100;
  std::int64_t offset = 0;
};

// Devices counted by what an operator's overview shows; `seen` is how
// long ago the device was last heard from: "5m", "1h", "24h", "older" or
// "never".
struct FleetCount {
  std::string device_type;
  std::string status;
  bool tampered = false;
  std::string seen;
  std::int64_t count = 0;
};

struct InventoryReport {
  std::int64_t counter = 0;
  std::string body;        // verbatim signed bytes
  std::string signature;   // base64
  std::string digest;      // hex SHA-256 of body
  bool tampered = false;
  struct Component {
    std::string name, version;
    std::int64_t security_version = 0;
  };
  std::vector<Component> components;  // as reported: the rollout scheduler reads these
  std::optional<std::string> utc_offset;
};

struct DeploymentRecord {
  std::int64_t id = 0;
  std::string bundle;      // file_sha256
  std::string component;
  bool allow_downgrade = false;
  std::optional<std::string> deadline;
  std::string created_by;
  std::string created_at;
  std::optional<std::int64_t> rollout_id;  // set by the store for a rollout's deployments
};

struct DeploymentDevice {
  std::int64_t deployment_id = 0;
  std::string device_id;
  std::string state;
  bool active = true;
  std::int64_t last_seq = 0;
  std::int64_t progress = 0;
  std::string message;
  std::optional<std::string> running_version;
  std::string updated_at;
  std::int64_t interruptions = 0;  // attempts cut short (power, network): not failures
};

// A deployment's interruptions: devices that had at least one, and all.
struct InterruptionCount {
  std::int64_t devices = 0;
  std::int64_t total = 0;
};

// What a device is offered when it polls.
struct Offer {
  DeploymentRecord deployment;
  BundleRecord bundle;
  std::string state;
};

struct DeploymentEvent {
  std::int64_t seq = 0;
  std::string state;
  std::int64_t progress = 0;
  std::string message;
  std::string time;
  std::optional<std::string> running_version;
  std::string body;        // verbatim signed bytes
  std::string signature;
};

// A staged rollout (DESIGN.md §7). Its devices' deployments live in
// deployment_devices under deployment_id, like a direct deployment's.
struct RolloutRecord {
  std::int64_t id = 0;
  std::string name;
  std::string policy_json;     // the document as accepted, verbatim
  std::string bundle;          // file_sha256
  std::optional<std::string> rollback_bundle;
  std::int64_t deployment_id = 0;
  std::optional<std::int64_t> rollback_deployment_id;
  RolloutState state = RolloutState::kScheduled;
  std::string reason;          // why it is paused, aborted or waiting
  std::string status_json = "{}";  // the scheduler's last evaluation
  // Failed and finished devices when an operator last resumed: the
  // failure guard judges only what finished after that.
  std::int64_t acknowledged_failed = 0, acknowledged_finished = 0;
  std::string created_by, created_at, updated_at;
};

struct RolloutWaveRecord {
  int wave = 0;
  std::optional<std::int64_t> completed_at;  // Unix seconds
  std::optional<std::string> approved_by;
};

// One accepted device of a rollout's device types, as the scheduler sees it.
struct RolloutDevice {
  std::string id, device_type, labels_json;
  bool tampered = false;
  std::optional<std::string> utc_offset;
  std::vector<std::pair<std::string, std::string>> versions;  // component, version
  std::optional<int> wave;                // persisted assignment
  std::optional<std::string> state;       // in the rollout's deployment
  std::int64_t attempts = 0;
  std::optional<std::int64_t> started_at; // Unix seconds
  bool busy = false;  // another deployment is active for the component
};

struct BaselineRecord {
  std::string name;
  std::string document;  // as accepted, verbatim
  std::string updated_by, updated_at;
};

// A change of a rollout's state: the store applies `event` to the state
// the rollout has (server/rollout_state.hpp) or refuses it.
struct RolloutTransition {
  std::int64_t rollout_id = 0;
  RolloutEvent event = RolloutEvent::kPause;
  std::string reason;
  // Pause and abort take back offers no device has fetched yet.
  bool withdraw_unfetched = false;
  // Abort with rollback: the deployment that carries the rollback bundle.
  std::optional<DeploymentRecord> rollback;
  // Resume: the operator has seen the failures so far (see RolloutRecord).
  bool acknowledge_failures = false;
};

// What one scheduler pass decided for a rollout; applied in one
// transaction, so a crash leaves either all of it or none.
struct RolloutPass {
  std::int64_t rollout_id = 0;
  RolloutState expected_state = RolloutState::kScheduled;  // the state it was computed in: dropped if that changed
  std::int64_t now = 0;  // Unix seconds
  std::vector<std::pair<std::string, int>> placed;   // new wave assignments
  std::vector<std::string> timed_out;
  std::vector<std::string> offers;
  std::vector<std::string> rollback_offers;
  std::vector<int> completed_waves;
  std::optional<RolloutTransition> transition;
  std::string cause;            // what caused the transition: schedule, gate, guard
  std::string reason;
  std::string status_json;
};

// Compliance (DESIGN.md §9): an accepted device with its evidence — what
// its last signed inventory says it runs and its latest deployment
// attempt per component.
struct ComplianceDevice {
  struct Component {
    std::string name, version;
    std::int64_t security_version = 0;
  };
  struct Attempt {
    std::string component, state;  // deployment_devices.state
    bool active = false;
    std::string updated_at;
    std::int64_t deployment_id = 0;
  };
  std::int64_t key = 0;
  std::string id, device_type, labels_json;
  std::optional<std::string> last_seen;
  std::int64_t report_counter = 0;
  bool reported = false;  // an inventory report exists (signed unless protocol is ddi)
  std::string protocol = "flotilla";
  std::optional<std::string> parent;  // a child's gateway
  std::optional<std::string> report_digest, report_at;
  bool tampered = false;
  std::vector<Component> components;      // by name
  std::vector<Attempt> latest_attempts;   // the newest per component, by component
};

// A page of accepted devices in key order, after `after_key`.
struct ComplianceScan {
  std::optional<std::string> device_id;
  std::optional<std::int64_t> rollout_id;  // devices the rollout placed in a wave
  std::optional<std::string> device_type;
  std::optional<std::pair<std::string, std::string>> label;
  std::int64_t after_key = 0;
  std::int64_t limit = 1000;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual common::Result<std::int64_t> create_token(const TokenRecord& token, const std::string& token_hash,
                                                    const AuditDraft& audit) = 0;
  // A token by the SHA-256 of its secret; revoked ones are returned marked.
  virtual common::Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) = 0;
  virtual common::Result<std::vector<TokenRecord>> list_tokens() = 0;
  // kNotFound if there is no such token.
  virtual common::Status revoke_token(std::int64_t id, const AuditDraft& audit) = 0;
  // A new secret for token `id`: a token of the same name and role is
  // made (`token` gives its times), and the old one stays valid until
  // `old_valid_until` (RFC 3339; never later than its own expiry). The
  // audit entry gets the new id as details.to. kNotFound unless `id` is
  // active at `now`.
  virtual common::Result<TokenRecord> rotate_token(std::int64_t id, const TokenRecord& token, const std::string& token_hash,
                                                   const std::string& now, const std::string& old_valid_until,
                                                   const AuditDraft& audit) = 0;

  // False (and no audit entry) when a bundle with that file digest exists.
  virtual common::Result<bool> insert_bundle(const BundleRecord& bundle, const AuditDraft& audit) = 0;
  virtual common::Result<std::vector<BundleRecord>> list_bundles() = 0;
  // By file digest or bundle id.
  virtual common::Result<std::optional<BundleRecord>> find_bundle(const std::string& key) = 0;
  // kNotFound, or kConflict while a deployment uses it.
  virtual common::Status delete_bundle(const std::string& file_sha256, const AuditDraft& audit) = 0;

  virtual common::Result<signing::AuditEntry> append_audit(const AuditDraft& audit) = 0;
  // Entries with seq > after_seq, oldest first, at most `limit`.
  virtual common::Result<std::vector<signing::AuditEntry>> list_audit(std::int64_t after_seq,
                                                                      std::int64_t limit) = 0;

  // Devices and enrollment (store/sqlite_devices.cpp).
  virtual common::Result<std::int64_t> create_enrollment_token(const EnrollmentTokenRecord& token,
                                                               const std::string& token_hash, const AuditDraft& audit) = 0;
  virtual common::Result<std::vector<EnrollmentTokenRecord>> list_enrollment_tokens() = 0;
  virtual common::Status revoke_enrollment_token(std::int64_t id, const AuditDraft& audit) = 0;
  // Records the nonce (kReplay if seen), then: a known device keeps its
  // status; a new one is accepted with a valid enrollment token (whose use
  // is counted) or left pending without one. Returns the device as stored.
  virtual common::Result<DeviceRecord> enroll_device(const DeviceRecord& device,
                                                     const std::optional<std::string>& enrollment_token_hash,
                                                     const std::string& nonce, const std::string& now,
                                                     const std::string& nonce_horizon, const AuditDraft& audit) = 0;
  // Registers a device served over DDI (protocol "ddi", no device key)
  // with the status `device` has (accepted when empty) and, when given,
  // its target token, which never expires; kConflict when the id is taken.
  virtual common::Result<DeviceRecord> create_ddi_device(const DeviceRecord& device, const std::optional<std::string>& token_hash,
                                                         const std::string& now, const AuditDraft& audit) = 0;
  // A DDI device's configData, as a JSON object (replaced whole).
  virtual common::Status set_device_attributes(const std::string& id, const std::string& attributes_json) = 0;
  // Adds a bearer token; the device's older tokens stay valid until their
  // own expiry, except that only the newest kLiveDeviceTokens are kept.
  virtual common::Status issue_device_token(const std::string& device_id, const std::string& token_hash,
                                            const std::string& expires_at) = 0;
  // The accepted device a bearer token belongs to; nullopt if unknown or
  // expired. The hot path: the record has neither inventory nor last_seen.
  virtual common::Result<std::optional<DeviceRecord>> find_device_by_token(const std::string& token_hash,
                                                                           const std::string& now) = 0;
  // A poll's read in one round trip: the device of a bearer token (as
  // find_device_by_token) and its offer as it stands (hand it to
  // take_offer, which then reads nothing unless the offer is pending).
  struct PolledDevice {
    DeviceRecord device;
    std::optional<Offer> offer;
  };
  virtual common::Result<std::optional<PolledDevice>> find_device_and_offer(const std::string& token_hash,
                                                                            const std::string& now) = 0;
  virtual common::Result<std::optional<DeviceRecord>> find_device(const std::string& id) = 0;
  virtual common::Result<std::vector<DeviceRecord>> list_devices(const DeviceFilter& filter) = 0;
  // kNotFound; decommissioning also revokes the device's tokens.
  virtual common::Status set_device_status(const std::string& id, const std::string& status, const AuditDraft& audit) = 0;
  virtual common::Status set_device_labels(const std::string& id, const std::string& labels_json, const AuditDraft& audit) = 0;
  // Notes that a device was seen. Cheap: implementations may batch these
  // writes (last_seen then lags by seconds), since it is not an
  // acknowledged write and the poll is the hot path.
  virtual common::Status touch_device(std::int64_t device_key, common::TimePoint now) = 0;
  // kReplay unless report.counter is above the stored one. A change of
  // the tamper flag is written to the audit log.
  virtual common::Status record_inventory(const std::string& device_id, const InventoryReport& report,
                                          const std::string& now) = 0;

  // Field gateways (store/sql_store_gateways.cpp, docs/gateway.md).
  // A child reported by `child.parent`: the stored record when the id is
  // known (whatever its parent: the caller refuses another gateway's
  // child), else inserted accepted with protocol "child" (audited).
  virtual common::Result<DeviceRecord> enroll_child(const DeviceRecord& child, const std::string& now,
                                                    const AuditDraft& audit) = 0;
  // The children of `gateway_id` with an active deployment (not orphaned),
  // each with its offer as it stands, in one statement (hand the offer to
  // take_offer, as for a device's own poll).
  virtual common::Result<std::vector<PolledDevice>> children_with_offers(const std::string& gateway_id) = 0;
  // Whether a device may enroll children. kNotFound.
  virtual common::Status set_device_gateway(const std::string& id, bool gateway, const AuditDraft& audit) = 0;
  // An operator moves a child to another gateway (it stops being
  // orphaned). kNotFound unless `child` is a child; kConflict unless
  // `gateway` is an accepted device allowed children.
  virtual common::Status move_child(const std::string& child, const std::string& gateway, const AuditDraft& audit) = 0;

  // Deployments (store/sqlite_deployments.cpp).
  // kConflict naming the device if one already has an active deployment
  // for the component.
  virtual common::Result<std::int64_t> create_deployment(const DeploymentRecord& deployment,
                                                         const std::vector<std::string>& device_ids,
                                                         const AuditDraft& audit) = 0;
  virtual common::Result<std::optional<DeploymentRecord>> find_deployment(std::int64_t id) = 0;
  virtual common::Result<std::vector<DeploymentRecord>> list_deployments(std::int64_t limit) = 0;
  virtual common::Result<std::vector<DeploymentDevice>> deployment_devices(std::int64_t deployment_id) = 0;
  virtual common::Result<std::vector<DeploymentDevice>> device_deployments(const std::string& device_id) = 0;
  virtual common::Result<std::vector<DeploymentEvent>> deployment_events(std::int64_t deployment_id,
                                                                         const std::string& device_id) = 0;
  // The active deployment a polling device should work on, if any; marks a
  // pending one offered (audited). `read`: the offer find_device_and_offer
  // read for this device, used instead of reading it again.
  virtual common::Result<std::optional<Offer>> take_offer(const std::string& device_id, const std::string& now,
                                                          std::optional<std::optional<Offer>> read = std::nullopt) = 0;
  // Applies an event: a seq seen before is a no-op (false), a new one must
  // be above the last and a legal transition (kBadTransition). Audited.
  virtual common::Result<bool> record_event(std::int64_t deployment_id, const std::string& device_id,
                                            const DeploymentEvent& event, const std::string& now) = 0;
  virtual common::Result<bool> device_may_download(const std::string& device_id, const std::string& file_sha256) = 0;
  virtual common::Result<bool> bundle_in_use(const std::string& file_sha256) = 0;
  // For /metrics: devices by status, device deployments by state.
  virtual common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_devices_by_status() = 0;
  virtual common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_deployment_states() = 0;
  // Accepted devices by protocol (flotilla, ddi, child; child-orphaned).
  virtual common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_devices_by_protocol() = 0;
  virtual common::Result<InterruptionCount> count_interruptions(std::int64_t deployment_id) = 0;
  // Every device in one pass, grouped for the fleet overview; `now` in
  // Unix seconds.
  virtual common::Result<std::vector<FleetCount>> count_fleet(std::int64_t now) = 0;

  // Rollouts (store/sqlite_rollouts.cpp).
  // Creates the rollout and its (empty) deployment.
  virtual common::Result<std::int64_t> create_rollout(const RolloutRecord& rollout, const DeploymentRecord& deployment,
                                                      const AuditDraft& audit) = 0;
  // The id the next rollout will get (a dry run buckets with it).
  virtual common::Result<std::int64_t> next_rollout_id() = 0;
  virtual common::Result<std::optional<RolloutRecord>> find_rollout(std::int64_t id) = 0;
  // Newest first; with `states`, only those.
  virtual common::Result<std::vector<RolloutRecord>> list_rollouts(const std::vector<RolloutState>& states,
                                                                   std::int64_t limit) = 0;
  virtual common::Result<std::vector<RolloutWaveRecord>> rollout_waves(std::int64_t rollout_id) = 0;
  // Calls `each` for every accepted device of those types with what the
  // scheduler needs (component versions as of the last inventory). Reads
  // in pages, so a scan of a large fleet does not hold up polls.
  virtual common::Status scan_rollout_devices(const RolloutRecord& rollout, const std::string& component,
                                              const std::vector<std::string>& device_types,
                                              const std::function<void(RolloutDevice&)>& each) = 0;
  // kConflict naming the state when the rollout is not in one of `from`.
  virtual common::Status transition_rollout(const RolloutTransition& transition, const AuditDraft& audit) = 0;
  // kConflict unless the wave exists and waits; idempotent for an approved one.
  virtual common::Status approve_wave(std::int64_t rollout_id, int wave, const AuditDraft& audit) = 0;
  virtual common::Status apply_rollout_pass(const RolloutPass& pass) = 0;
  // Grows with every write a rollout decision depends on (device events,
  // inventory, enrollment, device status and labels, deployments, operator
  // actions on rollouts), by any server on the store, so the scheduler can
  // skip a rollout nothing touched. A value it cannot read is -1, which
  // never matches: the scheduler then looks at everything.
  virtual std::int64_t change_generation() = 0;
  // Several servers may share one store; rollouts are scheduled by one of
  // them at a time, the one holding this lease. True while this process
  // holds it (a store only this process uses always does); a server that
  // dies loses it, and another takes it at its next try. Cheap enough to
  // call before every pass. A pass applied without the lease fails with
  // Errc::kNotScheduler.
  virtual common::Result<bool> hold_scheduler_lease() = 0;
  // An online copy of the whole store into the new file `path`, made a
  // few pages at a time while requests go on; consistent as of its end.
  // `progress(pages copied, pages in all)` after each step. SQLite only.
  virtual common::Status copy_to(const std::string& path, const std::function<void(int, int)>& progress) = 0;
  // For /metrics: rollouts by state, and rollout devices by deployment state.
  virtual common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_rollouts_by_state() = 0;
  virtual common::Result<std::vector<std::pair<std::string, std::int64_t>>> count_rollout_device_states() = 0;

  // Baselines (store/sqlite_baselines.cpp). True when it was created, false
  // when it replaced one of the same name.
  virtual common::Result<bool> put_baseline(const BaselineRecord& baseline, const AuditDraft& audit) = 0;
  virtual common::Result<std::vector<BaselineRecord>> list_baselines() = 0;
  virtual common::Result<std::optional<BaselineRecord>> find_baseline(const std::string& name) = 0;
  // kNotFound if there is none.
  virtual common::Status delete_baseline(const std::string& name, const AuditDraft& audit) = 0;

  // Compliance (store/sqlite_compliance.cpp): one page of devices with
  // their evidence in three queries, however many components they have.
  virtual common::Result<std::vector<ComplianceDevice>> scan_compliance(const ComplianceScan& scan) = 0;
  // The device's last signed inventory report as received (counter, body,
  // signature, digest; components and tampered are not filled), if any.
  virtual common::Result<std::optional<InventoryReport>> signed_inventory(const std::string& device_id) = 0;
  // The audit chain's last entry (seq 0 and 64 zeros when it is empty).
  virtual common::Result<signing::ChainHead> audit_head() = 0;

  virtual common::Result<std::optional<std::string>> setting(const std::string& key) = 0;
  // Writes every pair in one transaction with one audit entry.
  virtual common::Status set_settings(const std::vector<std::pair<std::string, std::string>>& values,
                                      const AuditDraft& audit) = 0;
  // The same, only while `key` still holds `expected` (nullopt: not set);
  // otherwise kConflict and nothing written. For changes two servers
  // sharing the store could race on (a root rotation).
  virtual common::Status set_settings_if(const std::string& key, const std::optional<std::string>& expected,
                                         const std::vector<std::pair<std::string, std::string>>& values,
                                         const AuditDraft& audit) = 0;
};

}  // namespace flotilla::server
