#include "server/api/app.hpp"

#include <algorithm>
#include <chrono>
#include <openssl/crypto.h>

#include "common/log.hpp"
#include "server/api/reply.hpp"
#include "server/api/request_checks.hpp"
#include "server/api/ui_routes.hpp"
#include "server/front/nginx_config.hpp"

namespace flotilla::server::api {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segments;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    segments.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return segments;
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
             std::vector<std::string>& params) {
  if (pattern.size() != segments.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == "{}") {
      if (segments[i].empty()) return false;
      params.push_back(segments[i]);
    } else if (pattern[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

ServerApp::ServerApp(Store& store, std::filesystem::path data_dir, Clock clock)
    : store_(store), data_dir_(std::move(data_dir)), clock_(std::move(clock)) {
  bundle_dir_ = data_dir_ / "bundles";
  std::filesystem::create_directories(bundle_dir_);
  std::filesystem::remove_all(upload_dir());
  std::filesystem::create_directories(upload_dir());
  // Reports of a previous run that were never sent.
  std::filesystem::remove_all(data_dir_ / "exports");
  auto route = [&](std::string method, const std::string& path, Permission permission, Handler h) {
    routes_.push_back({std::move(method), split_path(path), Access::kOperator, permission, h, path});
  };
  auto open_route = [&](std::string method, const std::string& path, Access access, Handler h) {
    routes_.push_back({std::move(method), split_path(path), access, Permission::kReadTrust, h, path});
  };
  open_route("GET", "/healthz", Access::kPublic, &ServerApp::health);
  route("GET", "/metrics", Permission::kReadTrust, &ServerApp::metrics);
  open_route("POST", "/api/v1/device/auth", Access::kPublic, &ServerApp::device_auth);
  open_route("POST", "/api/v1/device/poll", Access::kDevicePoll, &ServerApp::device_poll);
  open_route("PUT", "/api/v1/device/inventory", Access::kDevice, &ServerApp::device_inventory);
  open_route("POST", "/api/v1/device/deployments/{}/events", Access::kDevice, &ServerApp::device_event);
  open_route("GET", "/api/v1/device/bundles/{}", Access::kDevice, &ServerApp::device_bundle);
  open_route("HEAD", "/api/v1/device/bundles/{}", Access::kDevice, &ServerApp::device_bundle);
  open_route("GET", "/api/v1/device/trust/{}", Access::kDevice, &ServerApp::device_trust);
  open_route("PUT", "/api/v1/device/children/inventory", Access::kDevice, &ServerApp::device_child_inventory);
  open_route("POST", "/api/v1/device/children/{}/deployments/{}/events", Access::kDevice, &ServerApp::device_child_event);
  // hawkBit DDI: authenticated by target token in each handler.
  open_route("GET", "/{}/controller/v1/{}", Access::kPublic, &ServerApp::ddi_base);
  open_route("GET", "/{}/controller/v1/{}/deploymentBase/{}", Access::kPublic, &ServerApp::ddi_deployment_base);
  open_route("POST", "/{}/controller/v1/{}/deploymentBase/{}/feedback", Access::kPublic, &ServerApp::ddi_feedback);
  open_route("GET", "/{}/controller/v1/{}/installedBase/{}", Access::kPublic, &ServerApp::ddi_installed_base);
  open_route("GET", "/{}/controller/v1/{}/cancelAction/{}", Access::kPublic, &ServerApp::ddi_cancel_action);
  open_route("POST", "/{}/controller/v1/{}/cancelAction/{}/feedback", Access::kPublic, &ServerApp::ddi_cancel_feedback);
  open_route("PUT", "/{}/controller/v1/{}/configData", Access::kPublic, &ServerApp::ddi_config_data);
  open_route("GET", "/{}/controller/v1/{}/softwaremodules/{}/artifacts/{}", Access::kPublic, &ServerApp::ddi_artifact);
  open_route("HEAD", "/{}/controller/v1/{}/softwaremodules/{}/artifacts/{}", Access::kPublic, &ServerApp::ddi_artifact);
  route("POST", "/api/v1/devices/ddi", Permission::kManageDevices, &ServerApp::create_ddi_device);
  route("POST", "/api/v1/ddi/gateway-token", Permission::kManageDevices, &ServerApp::create_ddi_gateway_token);
  route("DELETE", "/api/v1/ddi/gateway-token", Permission::kManageDevices, &ServerApp::revoke_ddi_gateway_token);
  route("POST", "/api/v1/enrollment-tokens", Permission::kManageDevices, &ServerApp::create_enrollment_token);
  route("GET", "/api/v1/enrollment-tokens", Permission::kManageDevices, &ServerApp::list_enrollment_tokens);
  route("DELETE", "/api/v1/enrollment-tokens/{}", Permission::kManageDevices, &ServerApp::revoke_enrollment_token);
  route("GET", "/api/v1/me", Permission::kReadTrust, &ServerApp::show_caller);
  open_route("GET", "/api/v1/me/upload-permission", Access::kPublic, &ServerApp::check_upload_permission);
  route("GET", "/api/v1/devices", Permission::kReadDevices, &ServerApp::list_devices);
  // Before /devices/{}: "summary" is never a device id (ids are 64 hex digits).
  route("GET", "/api/v1/devices/summary", Permission::kReadDevices, &ServerApp::fleet_summary);
  route("GET", "/api/v1/devices/{}", Permission::kReadDevices, &ServerApp::show_device);
  route("GET", "/api/v1/devices/{}/inventory", Permission::kReadDevices, &ServerApp::device_inventory_evidence);
  route("POST", "/api/v1/devices/{}/accept", Permission::kManageDevices, &ServerApp::accept_device);
  route("POST", "/api/v1/devices/{}/reject", Permission::kManageDevices, &ServerApp::reject_device);
  route("POST", "/api/v1/devices/{}/decommission", Permission::kManageDevices, &ServerApp::decommission_device);
  route("PUT", "/api/v1/devices/{}/labels", Permission::kManageDevices, &ServerApp::label_device);
  route("PUT", "/api/v1/devices/{}/gateway", Permission::kManageDevices, &ServerApp::set_device_gateway);
  route("POST", "/api/v1/devices/{}/move", Permission::kManageDevices, &ServerApp::move_child_device);
  route("POST", "/api/v1/deployments", Permission::kManageDeployments, &ServerApp::create_deployment);
  route("GET", "/api/v1/deployments", Permission::kReadDeployments, &ServerApp::list_deployments);
  route("GET", "/api/v1/deployments/{}", Permission::kReadDeployments, &ServerApp::show_deployment);
  route("GET", "/api/v1/deployments/{}/devices/{}/events", Permission::kReadDeployments, &ServerApp::device_events);
  route("POST", "/api/v1/rollouts", Permission::kManageDeployments, &ServerApp::create_rollout);
  route("POST", "/api/v1/rollouts/dry-run", Permission::kManageDeployments, &ServerApp::dry_run_rollout);
  route("GET", "/api/v1/rollouts", Permission::kReadDeployments, &ServerApp::list_rollouts);
  route("GET", "/api/v1/rollouts/{}", Permission::kReadDeployments, &ServerApp::show_rollout);
  route("POST", "/api/v1/rollouts/{}/pause", Permission::kManageDeployments, &ServerApp::pause_rollout);
  route("POST", "/api/v1/rollouts/{}/resume", Permission::kManageDeployments, &ServerApp::resume_rollout);
  route("POST", "/api/v1/rollouts/{}/approve", Permission::kManageDeployments, &ServerApp::approve_rollout);
  route("POST", "/api/v1/rollouts/{}/abort", Permission::kManageDeployments, &ServerApp::abort_rollout);
  route("PUT", "/api/v1/baselines/{}", Permission::kManageDeployments, &ServerApp::put_baseline);
  route("GET", "/api/v1/baselines", Permission::kReadDeployments, &ServerApp::list_baselines);
  route("GET", "/api/v1/compliance", Permission::kReadDevices, &ServerApp::compliance);
  route("GET", "/api/v1/compliance/summary", Permission::kReadDevices, &ServerApp::compliance_summary);
  route("GET", "/api/v1/trust/report-key", Permission::kReadTrust, &ServerApp::report_public_key);
  route("GET", "/api/v1/baselines/{}", Permission::kReadDeployments, &ServerApp::show_baseline);
  route("DELETE", "/api/v1/baselines/{}", Permission::kManageDeployments, &ServerApp::delete_baseline);
  route("POST", "/api/v1/tokens", Permission::kManageTokens, &ServerApp::create_token);
  route("GET", "/api/v1/tokens", Permission::kManageTokens, &ServerApp::list_tokens);
  route("DELETE", "/api/v1/tokens/{}", Permission::kManageTokens, &ServerApp::revoke_token);
  route("POST", "/api/v1/tokens/{}/rotate", Permission::kManageTokens, &ServerApp::rotate_token);
  route("POST", "/api/v1/bundles", Permission::kUploadBundles, &ServerApp::upload_bundle);
  route("GET", "/api/v1/bundles", Permission::kReadBundles, &ServerApp::list_bundles);
  route("GET", "/api/v1/bundles/{}", Permission::kReadBundles, &ServerApp::show_bundle);
  route("DELETE", "/api/v1/bundles/{}", Permission::kManageBundles, &ServerApp::delete_bundle);
  route("GET", "/api/v1/bundles/{}/file", Permission::kReadBundles, &ServerApp::download_bundle);
  route("HEAD", "/api/v1/bundles/{}/file", Permission::kReadBundles, &ServerApp::download_bundle);
  route("GET", "/api/v1/audit", Permission::kReadAudit, &ServerApp::list_audit);
  route("GET", "/api/v1/audit/verify", Permission::kReadAudit, &ServerApp::verify_audit);
  route("GET", "/api/v1/audit/head", Permission::kReadAudit, &ServerApp::show_audit_head);
  route("GET", "/api/v1/audit/export", Permission::kReadAudit, &ServerApp::export_audit);
  route("GET", "/api/v1/trust", Permission::kReadTrust, &ServerApp::show_trust);
  route("PUT", "/api/v1/trust", Permission::kManageTrust, &ServerApp::upload_trust);
}

std::vector<std::pair<std::string, std::string>> ServerApp::route_table() const {
  std::vector<std::pair<std::string, std::string>> table;
  for (const auto& route : routes_) table.emplace_back(route.method, route.label);
  return table;
}

http::BodyPolicy ServerApp::body_policy(const std::string& method, const std::string& path) const {
  using Kind = http::BodyPolicy::Kind;
  if (method == "POST" && path == "/api/v1/bundles") return {Kind::kFile, kMaxBundleBytes};
  if (method == "GET" || method == "HEAD" || method == "DELETE") return {Kind::kMemory, 0};
  // Device routes are open to the network: small limits.
  if (path == "/api/v1/device/poll") return {Kind::kMemory, 4 * 1024};
  if (path == "/api/v1/device/auth") return {Kind::kMemory, 64 * 1024};
  if (path == "/api/v1/device/inventory") return {Kind::kMemory, 256 * 1024};
  if (path.starts_with("/api/v1/device/")) return {Kind::kMemory, 16 * 1024};
  // DDI feedback and configData (everything outside /api is DDI).
  if (!path.starts_with("/api/")) return {Kind::kMemory, 64 * 1024};
  return {Kind::kMemory, kMaxJsonBodyBytes};
}

std::string trust_root_version_setting(std::int64_t version) { return "trust_root.v" + std::to_string(version); }

std::expected<ServerApp::Caller, http::Response> ServerApp::authenticate(const http::Request& request) {
  auto header = request.header("Authorization");
  if (!header || !header->starts_with("Bearer ") || header->size() > 512) {
    auto response = problem(401, "send an API token as 'Authorization: Bearer <token>'");
    response.headers["WWW-Authenticate"] = "Bearer";
    return std::unexpected(response);
  }
  auto token = store_.find_token(token_hash(header->substr(7)));
  if (!token) return std::unexpected(problem_from(token.error()));
  if (!*token || (*token)->revoked) return std::unexpected(problem(401, "the API token is unknown or revoked"));
  if ((*token)->expires_at && (*token)->expires_at <= common::format_rfc3339(clock_())) {
    return std::unexpected(problem(401, "the API token has expired"));
  }
  auto role = parse_role((*token)->role);
  if (!role) return std::unexpected(problem(401, "the API token has an unknown role"));
  return Caller{"operator:" + (*token)->name + "#" + std::to_string((*token)->id), *role, std::nullopt, **token};
}

http::Response ServerApp::handle(http::Request& request) {
  auto start = std::chrono::steady_clock::now();
  std::string route_label = "unmatched";
  http::Response response = dispatch(request, route_label);
  // Every answer is exactly the type it says (a JSON error is never
  // sniffed into a page).
  response.headers.try_emplace("X-Content-Type-Options", "nosniff");
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  metrics_.observe(request.method, route_label, response.status, elapsed.count());
  if (response.file) metrics_.add_bundle_bytes(response.file->length);
  return response;
}

AuditDraft ServerApp::Caller::audit(std::string action, std::string object, std::string outcome,
                                    common::Json details) const {
  if (!client.empty() && details.is_object()) details["client"] = client;
  return {actor, std::move(action), std::move(object), std::move(outcome), std::move(details)};
}

std::optional<http::Response> ServerApp::refuse_without_front(http::Request& request) const {
  if (front_secret_.empty()) return std::nullopt;
  auto sent = request.header(front::kFrontHeader);
  if (!sent || sent->size() != front_secret_.size() ||
      CRYPTO_memcmp(sent->data(), front_secret_.data(), front_secret_.size()) != 0) {
    return problem(403, "this is the server's private port; connect through its front at " + public_url_);
  }
  if (auto client = request.header("X-Real-IP")) request.remote_address = *client;
  return std::nullopt;
}

http::Response ServerApp::dispatch(http::Request& request, std::string& route_label) {
  if (auto refused = refuse_without_front(request)) return *refused;
  // Limits a front proxy would also enforce (the embedded server cannot
  // rely on one being there), and text that is UTF-8, for every route.
  if (auto refused = refuse_malformed_request(request)) return *refused;
  if (ui_enabled_ && is_ui_path(request.path)) {
    route_label = "/ui";
    return serve_ui(request);
  }
  auto segments = split_path(request.path);
  std::vector<std::string> params;
  std::string allow;
  for (const auto& route : routes_) {
    if (!matches(route.pattern, segments, params)) continue;
    if (route.method != request.method) {
      allow += (allow.empty() ? "" : ", ") + route.method;
      continue;
    }
    route_label = route.label;
    Caller caller;
    if (route.access == Access::kOperator) {
      auto authenticated = authenticate(request);
      if (!authenticated) return authenticated.error();
      caller = *authenticated;
      if (!allowed(caller.role, route.permission)) {
        return problem(403, "the " + std::string(role_name(caller.role)) + " role may not do this");
      }
    } else if (route.access == Access::kDevice || route.access == Access::kDevicePoll) {
      auto authenticated = authenticate_device(request, route.access == Access::kDevicePoll);
      if (!authenticated) return authenticated.error();
      caller = *authenticated;
    }
    caller.client = request.remote_address;
    auto response = (this->*route.handler)(request, params, caller);
    // Clients warn their user before the token they use runs out.
    if (caller.token && caller.token->expires_at) response.headers["X-Flotilla-Token-Expires"] = *caller.token->expires_at;
    return response;
  }
  if (!allow.empty()) {
    auto response = problem(405, "this resource does not support " + request.method.substr(0, 16));
    response.headers["Allow"] = allow;
    return response;
  }
  return problem(404, "no such resource");
}

std::shared_ptr<const signing::TrustRoot> ServerApp::trust_root() {
  // Another server sharing the store may have stored a new root: a few
  // seconds of staleness is what a poll interval tolerates anyway.
  constexpr auto kRecheck = std::chrono::seconds(5);
  std::lock_guard lock(root_mutex_);
  auto now = std::chrono::steady_clock::now();
  if (root_read_at_ && now - *root_read_at_ < kRecheck) return root_;
  auto text = store_.setting(kTrustRootSetting);
  if (!text) return root_;  // a read error: keep what we had, try again next time
  root_read_at_ = now;
  if (!*text) {
    root_.reset();
    root_text_.clear();
    return nullptr;
  }
  if (**text == root_text_ && root_) return root_;
  auto root = signing::TrustRoot::from_json(**text);
  if (!root) {
    common::log(common::LogLevel::kError, "stored trust root is invalid: " + root.error().describe());
    return nullptr;
  }
  root_ = std::make_shared<const signing::TrustRoot>(std::move(*root));
  root_text_ = **text;
  return root_;
}

std::filesystem::path ServerApp::bundle_path(const std::string& file_sha256) const {
  return bundle_dir_ / (file_sha256 + ".flb");
}

common::Status ServerApp::set_bundle_dir(std::filesystem::path dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return common::fail(common::Errc::kIo, "creating " + dir.string() + ": " + ec.message());
  bundle_dir_ = std::move(dir);
  return {};
}

common::Status ServerApp::set_bundle_base_url(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!base.empty()) {
    auto scheme_end = base.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : base.substr(0, scheme_end);
    bool plain = std::all_of(base.begin(), base.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
    if ((scheme != "http" && scheme != "https") || scheme_end + 3 >= base.size() || base[scheme_end + 3] == '/' || !plain ||
        base.find_first_of("?#") != std::string::npos || base.size() > 1024) {
      return common::fail(common::Errc::kBadField,
                          "must be an http:// or https:// URL with a host, without query or fragment (got \"" +
                              base.substr(0, 100) + "\")");
    }
  }
  bundle_base_url_ = std::move(base);
  return {};
}

http::Response ServerApp::health(http::Request&, const Params&, const Caller&) {
  common::Json answer = {{"status", "ok"}};
  if (scheduler_running_) answer["scheduler"] = scheduler_running_() ? "running" : "standby";
  return json_reply(200, answer);
}

http::Response ServerApp::metrics(http::Request&, const Params&, const Caller&) {
  http::Response response;
  response.content_type = "text/plain; version=0.0.4";
  response.body = metrics_.render();
  auto gauge = [&](const char* name, const char* help, const char* label,
                   const common::Result<std::vector<std::pair<std::string, std::int64_t>>>& values) {
    response.body += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    if (!values) return;
    for (const auto& [key, count] : *values) {
      response.body += std::string(name) + "{" + label + "=\"" + prometheus_label(key) + "\"} " + std::to_string(count) + "\n";
    }
  };
  gauge("flotilla_devices", "Devices by status.", "status", store_.count_devices_by_status());
  gauge("flotilla_devices_by_protocol", "Accepted devices by protocol: flotilla, ddi, child (through a gateway).", "protocol",
        store_.count_devices_by_protocol());
  gauge("flotilla_device_deployments", "Device deployments by state.", "state", store_.count_deployment_states());
  gauge("flotilla_rollouts", "Rollouts by state.", "state", store_.count_rollouts_by_state());
  gauge("flotilla_rollout_devices", "Devices in rollouts by deployment state.", "state", store_.count_rollout_device_states());
  if (scheduler_running_) {
    response.body += "# HELP flotilla_scheduler_running 1 when this server's scheduler runs the rollouts (holds the lease).\n"
                     "# TYPE flotilla_scheduler_running gauge\nflotilla_scheduler_running " +
                     std::string(scheduler_running_() ? "1" : "0") + "\n";
  }
  return response;
}

}  // namespace flotilla::server::api
