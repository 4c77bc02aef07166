// The server's HTTP application: routing, authentication, and the
// operator API (tokens, bundles, audit, trust). Transport-agnostic: it
// sees plain http::Request/Response.
#pragma once

#include <filesystem>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/time.hpp"
#include "server/api/auth.hpp"
#include "server/api/later_removal.hpp"
#include "server/api/metrics.hpp"
#include "server/ddi/ddi.hpp"
#include "server/deployment_state.hpp"
#include "server/http/types.hpp"
#include "server/scheduler/rollout_plan.hpp"
#include "server/store/store.hpp"
#include "signing/root.hpp"

namespace flotilla::server::api {

inline constexpr std::uint64_t kMaxBundleBytes = std::uint64_t{16} << 30;
inline constexpr std::uint64_t kMaxJsonBodyBytes = 1 << 20;

class ServerApp final : public http::Application {
 public:
  using Clock = std::function<common::TimePoint()>;
  // `data_dir` holds bundles/ and uploads/. Removes upload leftovers of a
  // previous run (an upload cut by a crash is never visible).
  ServerApp(Store& store, std::filesystem::path data_dir, Clock clock = common::now_utc);

  http::BodyPolicy body_policy(const std::string& method, const std::string& path) const override;
  http::Response handle(http::Request& request) override;
  std::filesystem::path upload_dir() const override { return data_dir_ / "uploads"; }

 private:
  struct Caller {
    std::string actor;  // "operator:<name>#<id>" or "device:<id>"
    Role role = Role::kAuditor;
    std::optional<DeviceRecord> device;  // for device routes
    std::optional<TokenRecord> token;    // for operator routes
    std::string client;                  // the client's address (the front's X-Real-IP behind it)
    // The device's offer, read with it (Access::kDevicePoll) and not yet
    // marked fetched: the handler passes it to Store::take_offer.
    std::optional<std::optional<Offer>> offer;

    // What this caller did, for the audit log; the client address goes
    // into its details.
    AuditDraft audit(std::string action, std::string object, std::string outcome = "ok",
                     common::Json details = common::Json::object()) const;
  };
  using Params = std::vector<std::string>;
  using Handler = http::Response (ServerApp::*)(http::Request&, const Params&, const Caller&);
  // kDevicePoll: a device route whose caller is read together with the
  // device's offer, in one database round trip.
  enum class Access { kPublic, kOperator, kDevice, kDevicePoll };
  struct Route {
    std::string method;
    std::vector<std::string> pattern;  // "{}" matches one segment
    Access access = Access::kPublic;
    Permission permission = Permission::kReadTrust;  // for kOperator
    Handler handler;
    std::string label;  // the pattern as text, for metrics
  };
  http::Response dispatch(http::Request& request, std::string& route_label);
  // Behind the front: a request without its secret is refused; with it,
  // the client address becomes the one the front saw.
  std::optional<http::Response> refuse_without_front(http::Request& request) const;

  std::expected<Caller, http::Response> authenticate(const http::Request& request);
  // A device's bearer token (from device/auth) to its accepted device,
  // and with `with_offer` the device's offer in the same round trip.
  std::expected<Caller, http::Response> authenticate_device(const http::Request& request, bool with_offer = false);
  // Checks X-Flotilla-Key-Id / X-Flotilla-Signature over the exact body.
  // Records an authenticated device's contact as last_seen (batched).
  common::Status note_contact(const DeviceRecord& device);
  http::Response counter_refused(const std::string& device_id, const std::string& why);
  std::optional<http::Response> check_device_signature(const http::Request& request, const DeviceRecord& device);
  // The current trust root, or nullptr when none was configured.
  std::shared_ptr<const signing::TrustRoot> trust_root();

  http::Response health(http::Request&, const Params&, const Caller&);
  http::Response metrics(http::Request&, const Params&, const Caller&);
  http::Response create_token(http::Request&, const Params&, const Caller&);
  http::Response list_tokens(http::Request&, const Params&, const Caller&);
  http::Response revoke_token(http::Request&, const Params&, const Caller&);
  http::Response rotate_token(http::Request&, const Params&, const Caller&);
  http::Response upload_bundle(http::Request&, const Params&, const Caller&);
  http::Response list_bundles(http::Request&, const Params&, const Caller&);
  http::Response show_bundle(http::Request&, const Params&, const Caller&);
  http::Response delete_bundle(http::Request&, const Params&, const Caller&);
  http::Response download_bundle(http::Request&, const Params&, const Caller&);
  http::Response list_audit(http::Request&, const Params&, const Caller&);
  http::Response verify_audit(http::Request&, const Params&, const Caller&);
  http::Response show_audit_head(http::Request&, const Params&, const Caller&);
  http::Response show_caller(http::Request&, const Params&, const Caller&);
  // For the front, before it passes an upload's body on (auth_request):
  // 204 when the method is not POST or the caller may upload.
  http::Response check_upload_permission(http::Request&, const Params&, const Caller&);
  http::Response export_audit(http::Request&, const Params&, const Caller&);
  common::Status for_each_audit_entry(const std::function<common::Status(const signing::AuditEntry&)>& each);
  http::Response show_trust(http::Request&, const Params&, const Caller&);
  http::Response upload_trust(http::Request&, const Params&, const Caller&);

  // Device side (device_routes.cpp).
  http::Response device_auth(http::Request&, const Params&, const Caller&);
  http::Response device_poll(http::Request&, const Params&, const Caller&);
  http::Response device_inventory(http::Request&, const Params&, const Caller&);
  http::Response device_event(http::Request&, const Params&, const Caller&);
  http::Response device_bundle(http::Request&, const Params&, const Caller&);
  http::Response device_trust(http::Request&, const Params&, const Caller&);
  // The poll answer's `update` for an offer to `device`.
  common::Json offer_json(const Offer& offer, const DeviceRecord& device, common::TimePoint now);
  // Field gateways (gateway_routes.cpp, docs/gateway.md).
  common::Result<common::Json> child_offers(const DeviceRecord& gateway, common::TimePoint now);
  // The gateway calling, if it may speak for children and signed the body.
  std::optional<http::Response> check_gateway(const http::Request& request, const DeviceRecord& device);
  http::Response device_child_inventory(http::Request&, const Params&, const Caller&);
  http::Response device_child_event(http::Request&, const Params&, const Caller&);
  http::Response set_device_gateway(http::Request&, const Params&, const Caller&);
  http::Response move_child_device(http::Request&, const Params&, const Caller&);

  // Operator side: devices and enrollment (devices_routes.cpp).
  http::Response create_enrollment_token(http::Request&, const Params&, const Caller&);
  http::Response list_enrollment_tokens(http::Request&, const Params&, const Caller&);
  http::Response revoke_enrollment_token(http::Request&, const Params&, const Caller&);
  http::Response list_devices(http::Request&, const Params&, const Caller&);
  http::Response fleet_summary(http::Request&, const Params&, const Caller&);
  http::Response show_device(http::Request&, const Params&, const Caller&);
  http::Response device_inventory_evidence(http::Request&, const Params&, const Caller&);
  http::Response accept_device(http::Request&, const Params&, const Caller&);
  http::Response reject_device(http::Request&, const Params&, const Caller&);
  http::Response decommission_device(http::Request&, const Params&, const Caller&);
  http::Response label_device(http::Request&, const Params&, const Caller&);
  http::Response change_device_status(const std::string& id, const std::string& status, const Caller& caller);

  // Operator side: deployments (deployments_routes.cpp).
  http::Response create_deployment(http::Request&, const Params&, const Caller&);
  http::Response list_deployments(http::Request&, const Params&, const Caller&);
  http::Response show_deployment(http::Request&, const Params&, const Caller&);
  http::Response device_events(http::Request&, const Params&, const Caller&);

  // Operator side: rollouts (rollouts_routes.cpp).
  struct CheckedRollout {
    LoadedRollout loaded;
    BundleRecord bundle;
    std::optional<std::string> rollback_bundle;  // file digest
    std::string document;                        // the policy as accepted
  };
  std::expected<CheckedRollout, http::Response> check_rollout(http::Request& request);
  std::expected<RolloutRecord, http::Response> rollout_of(const Params& params);
  http::Response change_rollout(const Params& params, const Caller& caller, RolloutTransition transition,
                                const std::string& action);
  http::Response create_rollout(http::Request&, const Params&, const Caller&);
  http::Response dry_run_rollout(http::Request&, const Params&, const Caller&);
  http::Response list_rollouts(http::Request&, const Params&, const Caller&);
  http::Response show_rollout(http::Request&, const Params&, const Caller&);
  http::Response pause_rollout(http::Request&, const Params&, const Caller&);
  http::Response resume_rollout(http::Request&, const Params&, const Caller&);
  http::Response approve_rollout(http::Request&, const Params&, const Caller&);
  http::Response abort_rollout(http::Request&, const Params&, const Caller&);
  // The poll answer's activate_window for an offer: null, or the next
  // window {start, end} when the rollout restricts activation to windows.
  common::Json activate_window(const DeploymentRecord& deployment, const DeviceRecord& device, common::TimePoint now);
  // Rollout policies never change: parsed once, kept for polls.
  struct CachedRollout {
    std::int64_t deployment_id = 0;
    policy::RolloutPolicy policy;
  };
  std::shared_ptr<const CachedRollout> cached_rollout(std::int64_t id);

  // Operator side: compliance baselines (baselines_routes.cpp).
  http::Response put_baseline(http::Request&, const Params&, const Caller&);
  http::Response list_baselines(http::Request&, const Params&, const Caller&);
  http::Response show_baseline(http::Request&, const Params&, const Caller&);
  http::Response delete_baseline(http::Request&, const Params&, const Caller&);

  // Compliance reports and the report key (compliance_routes.cpp).
  http::Response compliance(http::Request&, const Params&, const Caller&);
  http::Response compliance_summary(http::Request&, const Params&, const Caller&);
  http::Response report_public_key(http::Request&, const Params&, const Caller&);
  // data_dir/report.key, loaded on first use; nullptr when there is none.
  std::shared_ptr<const signing::PrivateKey> report_key();

  std::filesystem::path bundle_path(const std::string& file_sha256) const;
  // A bundle file as the body, honouring Range / If-Range / HEAD.
  http::Response serve_bundle_file(const http::Request& request, const BundleRecord& bundle);
  // The same for any file of the bundle directory (`name` relative to it).
  // A report or export written for this request (in data_dir/exports),
  // sent and then removed (see set_export_redirect).
  http::Response export_file_reply(const std::filesystem::path& file, std::string content_type);
  http::Response serve_stored_file(const http::Request& request, const std::string& name, std::uint64_t size,
                                   const std::string& etag);

  // hawkBit DDI (ddi_routes.cpp). Params: tenant, controller id, then the
  // route's own. Each handler authenticates the target token itself.
  std::expected<Caller, http::Response> authenticate_ddi(const http::Request& request, const Params& params);
  // The same, for routes on the caller's open action params[2] (404 else).
  std::expected<Caller, http::Response> authenticate_ddi_action(const http::Request& request, const Params& params);
  std::string ddi_controller_url(const std::string& controller_id) const;
  // The caller's open action `action_text` as DDI shows it; 404 for any
  // other (another device's, a closed one).
  std::expected<ddi::Action, http::Response> ddi_action(const Caller& caller, const std::string& controller_id,
                                                        std::string_view action_text);
  // The action `id` of `bundle` as the client at `controller_id` sees it.
  std::expected<ddi::Action, http::Response> ddi_action_of(std::int64_t id, const BundleRecord& bundle,
                                                           const std::string& controller_id);
  common::Result<std::vector<ddi::Artifact>> ddi_artifacts(const BundleRecord& bundle);
  common::Status record_ddi_report(const Caller& caller, DeviceReport report, int progress, std::string message,
                                   const std::string& body);
  common::Status record_ddi_inventory(const DeviceRecord& device, const BundleRecord& bundle);
  http::Response ddi_base(http::Request&, const Params&, const Caller&);
  http::Response ddi_deployment_base(http::Request&, const Params&, const Caller&);
  http::Response ddi_installed_base(http::Request&, const Params&, const Caller&);
  http::Response ddi_feedback(http::Request&, const Params&, const Caller&);
  http::Response ddi_config_data(http::Request&, const Params&, const Caller&);
  http::Response ddi_artifact(http::Request&, const Params&, const Caller&);
  // Whether the device is asked to cancel its offer (its rollout aborted).
  common::Result<bool> ddi_cancels(const Offer& offer);
  http::Response ddi_cancel_action(http::Request&, const Params&, const Caller&);
  http::Response ddi_cancel_feedback(http::Request&, const Params&, const Caller&);
  http::Response create_ddi_device(http::Request&, const Params&, const Caller&);
  // A gateway token's device for `controller_id` (registered pending if
  // unknown), with its offer; 401 for a wrong token, 403 until accepted.
  std::expected<Store::PolledDevice, http::Response> ddi_gateway_device(std::string_view secret, const std::string& controller_id);
  http::Response create_ddi_gateway_token(http::Request&, const Params&, const Caller&);
  http::Response revoke_ddi_gateway_token(http::Request&, const Params&, const Caller&);

 public:
  // Every route as {method, pattern} ("GET", "/api/v1/devices/{}"), in
  // routing order: for tests that must cover each one.
  std::vector<std::pair<std::string, std::string>> route_table() const;
  // Where devices are told to download bundles (the server's public URL).
  void set_public_url(std::string url) { public_url_ = std::move(url); }
  void set_poll_interval(int seconds) { poll_interval_s_ = seconds; }
  // The front asks clients for certificates (--tls-client-ca): a DDI
  // device must present one whose subject CN is its controller id.
  void set_ddi_client_certificates(bool required) { ddi_client_certificates_ = required; }
  // The tenant of the DDI routes (/{tenant}/controller/v1/...).
  void set_ddi_tenant(std::string tenant) { ddi_tenant_ = std::move(tenant); }
  // How long an operator token made or rotated without "expires_at" stays
  // valid; zero: it never expires.
  void set_token_lifetime(std::chrono::seconds lifetime) { token_lifetime_ = lifetime; }
  // Serve the dashboard at /ui/ (the default); off, those paths are 404.
  void set_ui_enabled(bool enabled) { ui_enabled_ = enabled; }
  // Behind nginx: bundle downloads are authorised here and sent by nginx
  // from an internal location with this prefix (X-Accel-Redirect).
  void set_accel_redirect(std::string prefix) { accel_redirect_ = std::move(prefix); }
  // Behind the server's own front: reports and exports written for one
  // request are sent by nginx from an internal location with this prefix
  // (front::kExportLocation) and removed `grace` later; empty: sent by
  // the server itself and removed once it has them open.
  void set_export_redirect(std::string prefix, std::chrono::seconds grace) {
    export_redirect_ = std::move(prefix);
    export_grace_ = grace;
  }
  // Behind the server's own front: only requests carrying the front's
  // secret (front::kFrontHeader) are answered, and the client address is
  // the one the front saw (X-Real-IP). Empty: every request, its peer.
  void set_front_secret(std::string secret) { front_secret_ = std::move(secret); }
  // Called after an operator changed a rollout: wakes the scheduler.
  void set_rollouts_changed(std::function<void()> notify) { rollouts_changed_ = std::move(notify); }
  // Whether this server's scheduler runs the rollouts (several servers
  // share a store), for /healthz and /metrics.
  void set_scheduler_role(std::function<bool()> running) { scheduler_running_ = std::move(running); }
  // Bundle files live here (default data_dir/bundles): a directory servers
  // sharing a database share. Created if missing.
  common::Status set_bundle_dir(std::filesystem::path dir);
  // Polls point devices at BASE/<file_sha256>.flb (a mirror: bundles are
  // signed end to end, so it need not be trusted), with this server's
  // download as the fallback. Empty: this server only. kBadField unless
  // an http(s) URL without query or fragment.
  common::Status set_bundle_base_url(std::string base);

 private:
  std::string public_url_;
  std::string bundle_base_url_;
  std::filesystem::path bundle_dir_;
  std::function<bool()> scheduler_running_;
  bool ui_enabled_ = true;
  std::string accel_redirect_;
  std::string export_redirect_;
  std::chrono::seconds export_grace_{60};
  LaterRemoval handed_over_;  // exports nginx sends
  std::string front_secret_;
  std::function<void()> rollouts_changed_;
  std::mutex rollout_cache_mutex_;
  std::map<std::int64_t, std::shared_ptr<const CachedRollout>> rollout_cache_;
  int poll_interval_s_ = 60;
  std::string ddi_tenant_{ddi::kDefaultTenant};
  std::mutex ddi_mutex_;  // one extraction of a bundle's DDI artifacts at a time; guards ddi_artifacts_
  std::map<std::string, std::vector<ddi::Artifact>> ddi_artifacts_;  // by bundle file digest, once read
  bool ddi_client_certificates_ = false;
  std::chrono::seconds token_lifetime_{0};

  Store& store_;
  std::filesystem::path data_dir_;
  Clock clock_;
  std::vector<Route> routes_;
  Metrics metrics_;
  std::mutex root_mutex_;
  std::shared_ptr<const signing::TrustRoot> root_;
  std::string root_text_;  // what root_ was parsed from
  // When root_ last reflected the store: re-read after a few seconds, so
  // a root another server stored reaches this one's polls.
  std::optional<std::chrono::steady_clock::time_point> root_read_at_;
  std::mutex report_key_mutex_;
  std::shared_ptr<const signing::PrivateKey> report_key_;
};

// Settings keys shared with `flotilla-server init`.
inline constexpr const char* kTrustRootSetting = "trust_root";
// The DDI gateway token: {"hash", "device_type", "created_at"}, or "" once revoked.
inline constexpr const char* kDdiGatewayTokenSetting = "ddi_gateway_token";
// Every accepted root version is kept as "trust_root.v<N>" for devices
// walking the rotation chain.
std::string trust_root_version_setting(std::int64_t version);

}  // namespace flotilla::server::api
