#include "client/daemon.hpp"

#include <charconv>

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <thread>

#include "client/activation_window.hpp"
#include "client/errors.hpp"
#include "common/decimal.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/log.hpp"
#include "signing/digest.hpp"
#include "signing/provider_key.hpp"

namespace flotilla::client {

namespace {

using std::chrono::seconds;

constexpr std::int64_t kOutboxBatch = 50;

std::string utc_offset_now() {
  std::time_t t = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&t, &local);
  int minutes = static_cast<int>(std::clamp<long>(local.tm_gmtoff / 60, -14 * 60, 14 * 60));
  char text[16];
  std::snprintf(text, sizeof text, "%c%02d:%02d", minutes < 0 ? '-' : '+', std::abs(minutes) / 60, std::abs(minutes) % 60);
  return text;
}

// The device key in the TPM (docs/agent.md, "Device key"): the persistent
// key at a handle, or the wrapped blob in key_file, created in the TPM
// at the first start.
common::Result<signing::PrivateKey> open_tpm_key(const AgentConfig& config) {
  const auto& spec = *config.tpm_key;
  signing::TpmKeyOptions options{.tcti = spec.tcti};
  if (spec.handle) return signing::load_tpm_key_handle(options, *spec.handle);
  auto path = spec.key_file.value_or(config.state_dir / "device.tpm.pem");
  if (std::filesystem::exists(path)) return signing::load_tpm_key_file(options, path.string());
  if (!spec.create) {
    return common::fail(common::Errc::kBadField, "/device_key/key_file: " + path.string() + " does not exist and create is false");
  }
  if (std::filesystem::exists(config.state_dir / "device.key")) {
    common::log(common::LogLevel::kWarn, "device_key moves this device's identity into the TPM: it enrolls again as a new "
                                         "device (the key in device.key is no longer used)");
  }
  auto key = signing::create_tpm_key(options, path.string());
  if (key) common::log(common::LogLevel::kInfo, "created the device key " + key->key_id() + " in the TPM (" + path.string() + ")");
  return key;
}

}  // namespace

common::Result<std::unique_ptr<Daemon>> Daemon::open(Agent& agent) {
  const auto& config = agent.config();
  if (!config.server) return common::fail(common::Errc::kBadField, "/server: run needs a server (local installs do not)");
  if (config.tpm_key) {
    auto key = open_tpm_key(config);
    if (!key) return std::unexpected(key.error());
    return open(agent, std::move(*key));
  }
  auto prefix = (config.state_dir / "device").string();
  if (!std::filesystem::exists(prefix + ".key")) {
    auto key = signing::PrivateKey::generate(signing::Algorithm::kEd25519);
    if (!key) return std::unexpected(key.error());
    if (auto ok = signing::save_key_pair(*key, prefix); !ok) return std::unexpected(ok.error());
  }
  auto key = signing::load_private_key(prefix + ".key");
  if (!key) return std::unexpected(key.error());
  return open(agent, std::move(*key));
}

common::Result<std::unique_ptr<Daemon>> Daemon::open(Agent& agent, signing::PrivateKey key) {
  const auto& server = *agent.config().server;
  std::unique_ptr<Daemon> daemon(new Daemon(agent, std::move(key), Transport(server.url, server.ca_file)));
  if (agent.config().gateway) {
    auto gateway = Gateway::open(agent);
    if (!gateway) return std::unexpected(gateway.error());
    daemon->gateway_ = std::move(*gateway);
  }
  daemon->restore();
  return daemon;
}

common::Result<HttpResponse> Daemon::send_signed(const std::string& method, const std::string& path, const std::string& body) {
  if (!token_) return common::fail(common::Errc::kIo, "not authenticated");
  auto headers = signed_headers(body);
  headers.push_back("Authorization: Bearer " + *token_);
  return transport_.request(method, path, body, headers);
}

// The offered bundle's download: the server's with the device token, or
// a mirror's without it and the server's as the fallback.
DownloadOptions Daemon::download_options(const common::Json& bundle) {
  const auto& config = agent_.config();
  DownloadOptions download{.url = bundle["url"].get<std::string>(),
                           .headers = {"Authorization: Bearer " + token_.value_or("")},
                           .ca_file = config.server->ca_file,
                           .size = bundle.value("size", std::uint64_t{0}),
                           .bandwidth_limit = config.bandwidth_limit.value_or(0)};
  if (bundle.contains("fallback_url") && bundle["fallback_url"].is_string()) {
    // `url` is a mirror: it gets no credentials (it is not trusted, and a
    // device token must not reach it) and the system's CAs; the server's
    // own download, with both, is where the rest comes from if it fails.
    download.fallback = DownloadOptions::Fallback{bundle["fallback_url"].get<std::string>(), std::move(download.headers),
                                                  std::move(download.ca_file)};
    download.headers.clear();
    download.ca_file.reset();
  }
  return download;
}

// What an earlier run learned and kept in the state: its bearer token, the
// server's poll interval, how far the device clock is off the server's.
void Daemon::restore() {
  auto& state = agent_.state();
  if (auto token = state.setting("device_token"); token && *token && !(*token)->empty()) token_ = **token;
  // A token belongs to the key it was issued for: with another key (moved
  // into a TPM), the device enrolls again.
  if (auto enrolled = state.setting("device_key_id"); token_ && enrolled && *enrolled && **enrolled != key_.key_id()) {
    token_.reset();
  }
  if (auto interval = state.setting("poll_interval_s"); interval && *interval) {
    std::uint64_t seconds = 0;
    if (common::parse_decimal(**interval, seconds, 6)) poll_interval_s_ = static_cast<int>(seconds);
  }
  if (auto offset = state.setting("server_clock_offset_s"); offset && *offset) {
    std::int64_t seconds = 0;
    const auto& text = **offset;
    if (std::from_chars(text.data(), text.data() + text.size(), seconds).ec == std::errc()) {
      server_offset_ = std::chrono::seconds(seconds);
    }
  }
}

std::vector<std::string> Daemon::signed_headers(const std::string& body) const {
  auto signature = key_.sign(common::as_bytes(body));
  return {"X-Flotilla-Key-Id: " + key_.key_id(), "X-Flotilla-Signature: " + (signature ? common::to_base64(*signature) : "")};
}

common::TimePoint Daemon::request_time() const { return agent_.env().now() + server_offset_; }

common::Status Daemon::authenticate() {
  const auto& config = agent_.config();
  common::Json body = {{"device_type", config.device_type},
                       {"identity", config.identity},
                       {"public_key", key_.public_key().to_pem()},
                       {"timestamp", common::format_rfc3339(request_time())},
                       {"nonce", common::to_hex(signing::random_bytes(16))}};
  if (config.enrollment_token_file) {
    auto token = common::read_file(*config.enrollment_token_file, 4096);
    if (!token) {
      common::log(common::LogLevel::kWarn, "enrolling without a token: " + token.error().describe() +
                                               " (an operator must accept the device, or fix enrollment_token_file)");
    } else {
      std::string secret = *token;
      while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
      if (!secret.empty()) body["enrollment_token"] = secret;
    }
  }
  std::string text = body.dump();
  auto response = transport_.request("POST", "/api/v1/device/auth", text, signed_headers(text));
  if (!response) return common::propagate(response, "enrolling with the server");
  if (response->status == 202) {
    return common::fail(Errc::kNotAccepted, "device " + key_.key_id() + " waits for an operator to accept it");
  }
  auto answer = common::Json::parse(response->body, nullptr, false);
  if (response->status == 401 && answer.is_object() && answer.contains("server_time") && answer["server_time"].is_string()) {
    // Our clock is off (no RTC, a dead battery): stamp requests with the
    // server's time from now on, and try once more. Only the request
    // timestamps follow it; trust decisions keep their own clock floor.
    auto server_time = common::parse_rfc3339(answer["server_time"].get<std::string>());
    auto offset = server_time ? std::chrono::duration_cast<std::chrono::seconds>(*server_time - (request_time() - server_offset_))
                              : std::chrono::seconds(0);
    if (server_time && offset != server_offset_ && !correcting_clock_) {
      common::log(common::LogLevel::kWarn, "the device clock is " + std::to_string(offset.count()) +
                                               " s off the server's; request timestamps follow the server");
      server_offset_ = offset;
      (void)agent_.state().set_setting("server_clock_offset_s", std::to_string(offset.count()));
      correcting_clock_ = true;
      auto again = authenticate();
      correcting_clock_ = false;
      return again;
    }
  }
  if (response->status != 200 || !answer.contains("token") || !answer["token"].is_string()) {
    std::string why = answer.is_object() && answer.contains("detail") && answer["detail"].is_string()
                          ? ": " + answer["detail"].get<std::string>().substr(0, 300)
                          : "";
    return common::fail(Errc::kEnrollmentRefused, "enrollment refused (HTTP " + std::to_string(response->status) + ")" + why);
  }
  token_ = answer["token"].get<std::string>();
  // Kept in the state database, next to the device key, so a
  // restarted agent polls on without enrolling again.
  (void)agent_.state().set_setting("device_token", *token_);
  (void)agent_.state().set_setting("device_key_id", key_.key_id());
  if (answer.contains("poll_interval_s") && answer["poll_interval_s"].is_number_integer()) {
    poll_interval_s_ = answer["poll_interval_s"].get<int>();
  }
  return {};
}

// {"inventory_digest", "counter"} of the last report the server accepted,
// or {} before the first: the server asks for a report when either differs.
std::string Daemon::poll_body() {
  auto& state = agent_.state();
  auto digest = state.setting("inventory_digest");
  if (digest && *digest) inventory_digest_ = **digest;
  auto counter = state.setting("inventory_report_counter");
  std::uint64_t value = 0;
  if (counter && *counter && common::parse_decimal(**counter, value, 18)) inventory_report_counter_ = static_cast<std::int64_t>(value);
  common::Json body = common::Json::object();
  if (common::is_sha256_hex(inventory_digest_)) body["inventory_digest"] = inventory_digest_;
  if (inventory_report_counter_ > 0) body["counter"] = inventory_report_counter_;
  return body.dump();
}

common::Status Daemon::report_inventory(bool required) {
  auto view = agent_.status();
  if (!view) return std::unexpected(view.error());
  auto& state = agent_.state();
  auto last = state.setting("inventory_content");
  if (!last) return std::unexpected(last.error());
  common::Json content = {{"components", (*view)["components"]},
                          {"booted_slot", (*view)["booted_slot"]},
                          {"agent_version", kAgentVersion},
                          {"utc_offset", utc_offset_now()},
                          // The device's own view of its last update.
                          {"health", {{"update_state", (*view)["update"]["state"]},
                                      {"last_error", (*view)["last_error"]},
                                      {"root_version", (*view)["root_version"]}}}};
  // The tamper check's verdict travels with the inventory: exit 0 is
  // intact, anything else flags the device (its first output line says why).
  if (const auto& check = agent_.config().tamper_check) {
    auto result = agent_.env().run(check->argv, check->timeout);
    bool ok = result && result->exit_code == 0;
    std::string detail = result ? result->output.substr(0, result->output.find('\n')).substr(0, 200) : "cannot run";
    if (detail.empty() && result) detail = result->detail;
    content["tamper"] = {{"tamper-check", {{"ok", ok}, {"detail", detail}}}};
  }
  // Sent on change and when the server asks (it asks at least daily).
  if (!required && *last && **last == content.dump()) return {};
  auto counter_text = state.setting("inventory_counter");
  if (!counter_text) return std::unexpected(counter_text.error());
  // A counter the state cannot read restarts from the clock: it must only grow.
  std::uint64_t last_counter = 0;
  if (*counter_text && !common::parse_decimal(**counter_text, last_counter, 18)) {
    last_counter = static_cast<std::uint64_t>(std::time(nullptr));
  }
  auto counter = static_cast<std::int64_t>(last_counter + 1);
  common::Json body = content;
  std::string text;
  for (int attempt = 0;; ++attempt) {
    if (auto ok = state.set_setting("inventory_counter", std::to_string(counter)); !ok) return ok;
    body["counter"] = counter;
    body["timestamp"] = common::format_rfc3339(request_time());
    text = body.dump();
    auto headers = signed_headers(text);
    headers.push_back("Authorization: Bearer " + *token_);
    auto response = transport_.request("PUT", "/api/v1/device/inventory", text, headers);
    if (!response) return std::unexpected(response.error());
    if (response->status == 200) break;
    // The server has a higher counter than this device remembers (its
    // state was wiped or restored): continue above the server's, once.
    auto refusal = common::Json::parse(response->body, nullptr, false);
    if (response->status == 409 && attempt == 0 && refusal.is_object() && refusal.contains("last_counter") &&
        refusal["last_counter"].is_number_integer() && refusal["last_counter"].get<std::int64_t>() >= 0) {
      common::log(common::LogLevel::kWarn, "inventory counter " + std::to_string(counter) + " refused; continuing above the server's " +
                                               std::to_string(refusal["last_counter"].get<std::int64_t>()));
      counter = refusal["last_counter"].get<std::int64_t>() + 1;
      continue;
    }
    return common::fail(common::Errc::kIo, "inventory refused (HTTP " + std::to_string(response->status) + ")");
  }
  inventory_digest_ = signing::sha256_hex(text);
  inventory_report_counter_ = counter;
  if (auto ok = state.set_setting("inventory_digest", inventory_digest_); !ok) return ok;
  if (auto ok = state.set_setting("inventory_report_counter", std::to_string(counter)); !ok) return ok;
  return state.set_setting("inventory_content", content.dump());
}

common::Status Daemon::deliver_outbox() {
  if (!token_) return common::fail(common::Errc::kIo, "not authenticated: events stay queued");
  auto& state = agent_.state();
  auto events = state.pending_events(kOutboxBatch);
  if (!events) return std::unexpected(events.error());
  for (const auto& e : *events) {
    common::Json body = {{"seq", e.seq}, {"state", event_state(e.state)}, {"progress", 0},
                         {"message", e.message.substr(0, 512)}, {"time", e.time}};
    if (e.running_version) body["running_version"] = *e.running_version;
    std::string text = body.dump();
    auto headers = signed_headers(text);
    headers.push_back("Authorization: Bearer " + *token_);
    auto response = transport_.request("POST", "/api/v1/device/deployments/" + std::to_string(e.deployment_id) + "/events",
                                       text, headers);
    if (!response) return std::unexpected(response.error());  // offline: kept for later
    if (response->status == 401) {
      token_.reset();
      return common::fail(common::Errc::kIo, "the device token expired");
    }
    if (response->status >= 500) return common::fail(common::Errc::kIo, "the server failed (HTTP " + std::to_string(response->status) + ")");
    if (response->status != 200) {
      // Refused for good (withdrawn deployment, out-of-order): resending
      // would never succeed; the inventory still tells the truth.
      common::log(common::LogLevel::kWarn, "event " + std::to_string(e.seq) + " of deployment " +
                                               std::to_string(e.deployment_id) + " refused: HTTP " +
                                               std::to_string(response->status));
    }
    if (auto ok = state.drop_event(e.id); !ok) return ok;
  }
  return {};
}

common::Status Daemon::follow_root(std::int64_t offered) {
  auto root = agent_.current_root();
  if (!root) return std::unexpected(root.error());
  // One version at a time, each checked against the one before.
  for (std::int64_t v = root->version() + 1; v <= offered && v <= root->version() + 64; ++v) {
    auto response = transport_.request("GET", "/api/v1/device/trust/" + std::to_string(v) + ".root.json", "",
                                       {"Authorization: Bearer " + *token_});
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return common::fail(common::Errc::kIo, "root " + std::to_string(v) + ": HTTP " + std::to_string(response->status));
    auto accepted = agent_.accept_root(response->body);
    if (!accepted) return std::unexpected(accepted.error());
    common::log(common::LogLevel::kInfo, "trust root rotated to version " + std::to_string(*accepted));
  }
  return {};
}

std::optional<int> Daemon::reboot() {
  const auto& r = agent_.config().reboot;
  if (r.mode == AgentConfig::Reboot::Mode::kExit) return r.exit_code;
  CommandSpec command{r.command, seconds(60)};
  if (auto ran = run_check(agent_.env(), command); !ran.passed) common::log(common::LogLevel::kError, "reboot command failed: " + ran.detail);
  return 0;
}

// Downloads the offered bundle straight into place. After a power cut or
// a download given up (the update is `interrupted`), it continues from the
// kept resume point: the bundle is read again from the kept bytes and the
// slot, and downloaded from there on. A resumed attempt that fails for any
// reason but the network is tried once more from the start, so a bad
// resume point can cost a download, never an update.
std::optional<Agent::Installed> Daemon::download_and_install(const common::Json& update, std::int64_t deployment,
                                                             const UpdateState& current) {
  const auto& config = agent_.config();
  auto& state = agent_.state();
  const auto& bundle = update["bundle"];
  std::string file_sha256 = bundle.value("file_sha256", std::string());
  auto booted = agent_.bootloader().booted_slot();
  if (!booted) {
    common::log(common::LogLevel::kError, "deployment " + std::to_string(deployment) + ": " + booted.error().describe());
    return std::nullopt;
  }
  ResumePoint base{.deployment_id = deployment, .file_sha256 = file_sha256, .target_slot = other_slot(*booted)};
  auto kept = load_resume_point(state);
  std::optional<ResumePoint> point = kept ? *kept : std::nullopt;
  bool resumable = point && current.state == Stage::kInterrupted && current.deployment_id == deployment &&
                   point->deployment_id == deployment && point->file_sha256 == file_sha256 &&
                   point->target_slot == base.target_slot && point->written > 0 && config.slots.count(point->slot_class) > 0 &&
                   std::filesystem::exists(resume_prefix_path(config.state_dir));
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool resuming = resumable && attempt == 0;
    if (!resuming) (void)clear_resume_point(state, config.state_dir);
    auto download = download_options(bundle);
    download.start_offset = resuming ? point->data_offset + point->written : 0;
    std::optional<std::string> offered_bundle_id;
    if (bundle.contains("bundle_id") && bundle["bundle_id"].is_string()) offered_bundle_id = bundle["bundle_id"].get<std::string>();
    std::string url = download.url;
    auto http = HttpSource::open(download, agent_.env());
    if (!http) {
      common::log(common::LogLevel::kError, "deployment " + std::to_string(deployment) + ": " + http.error().describe());
      return std::nullopt;
    }
    HttpSource* network = http->get();
    std::unique_ptr<artifacts::ByteSource> source = std::move(*http);
    ResumedSource* resumed = nullptr;
    if (resuming) {
      auto slot = config.slots.at(point->slot_class).side(point->target_slot);
      auto from_point = ResumedSource::open(resume_prefix_path(config.state_dir), slot, point->written, std::move(source));
      if (!from_point) {
        common::log(common::LogLevel::kWarn, "cannot resume: " + from_point.error().describe() + "; downloading the whole bundle");
        resumable = false;
        continue;
      }
      resumed = from_point->get();
      source = std::move(*from_point);
      common::log(common::LogLevel::kInfo, "installing deployment " + std::to_string(deployment) + ", resumed: " +
                                               std::to_string(point->written) + " bytes of the image are in slot " +
                                               point->target_slot + ", downloading from byte " +
                                               std::to_string(download.start_offset));
    } else {
      common::log(common::LogLevel::kInfo, "installing deployment " + std::to_string(deployment) + " from " + url);
    }
    RecordingSource recording(*source);
    ResumeRecorder recorder(state, config.state_dir, resuming ? *point : base, recording);
    auto installed = agent_.install(recording, deployment, update.value("allow_downgrade", false), std::move(offered_bundle_id),
                                    &recorder, update.value("activate_window", common::Json()));
    if (network->fell_back()) common::log(common::LogLevel::kInfo, "the bundle came from " + network->url() + " in the end");
    (void)deliver_outbox();
    if (installed) {
      (void)clear_resume_point(state, config.state_dir);
      return *installed;
    }
    if (installed.error().is(Errc::kWaitsForWindow)) {
      (void)clear_resume_point(state, config.state_dir);
      common::log(common::LogLevel::kInfo, "deployment " + std::to_string(deployment) + " not installed yet: " +
                                               installed.error().message());
      return std::nullopt;
    }
    bool interrupted = recorder.source_failed() && !(resumed && resumed->local_failed());
    if (interrupted) {
      common::log(common::LogLevel::kWarn, "deployment " + std::to_string(deployment) + " interrupted: " +
                                               installed.error().describe() + "; it continues at the next offer");
      return std::nullopt;
    }
    if (!resuming) {
      (void)clear_resume_point(state, config.state_dir);
      common::log(common::LogLevel::kError, "deployment " + std::to_string(deployment) + " failed: " + installed.error().describe());
      return std::nullopt;
    }
    common::log(common::LogLevel::kWarn, "the resumed download of deployment " + std::to_string(deployment) + " failed (" +
                                             installed.error().describe() + "); downloading the whole bundle again");
  }
  return std::nullopt;
}

common::Result<std::optional<int>> Daemon::take_update(const common::Json& update) {
  auto current = agent_.state().update();
  if (!current) return std::unexpected(current.error());
  std::int64_t deployment = update.value("deployment_id", std::int64_t{0});
  const auto& bundle = update["bundle"];
  if (deployment <= 0 || !bundle.is_object() || !bundle.contains("url") || !bundle["url"].is_string()) {
    return common::fail(Errc::kBadOffer, "the server offered an update without a usable bundle");
  }
  // An update this agent already finished is offered again either because
  // the server has not received its final event yet (not taken: the event
  // is on its way), or as a retry the rollout allows (device_retries)
  // once the server has it: then it is taken like a new offer.
  // An interrupted one (a power cut mid-download) is taken again at once.
  if (current->deployment_id == deployment && waits_for_reboot(current->state)) {
    // Written (or armed) and waiting: the offer's window replaces the kept
    // one (the operator may have changed the policy, or a deadline passed).
    if (auto ok = agent_.set_activation_window(update.value("activate_window", common::Json())); !ok) return std::unexpected(ok.error());
    return switch_when_due(*current);
  }
  if (current->deployment_id == deployment && current->state == Stage::kInterrupted && agent_.held_for_window(deployment)) {
    // Takes effect as it installs and was held for its window: taken when
    // the window opens, not downloaded again at every poll before.
    auto window = update.value("activate_window", common::Json());
    if (auto ok = agent_.set_activation_window(window); !ok) return std::unexpected(ok.error());
    if (!agent_.activation_due()) return std::optional<int>{};
  }
  if (current->deployment_id == deployment && current->state != Stage::kDownloadingInstalling &&
      current->state != Stage::kInterrupted) {
    // A retry follows a failure only, and only an offer made after the
    // server had the final event: the answer to a poll sent while the
    // event was still in the outbox offers what it believed in progress.
    bool retry = (current->state == Stage::kFailed || current->state == Stage::kRolledBack) && !outbox_pending_at_poll_;
    if (!retry) return std::optional<int>{};
    common::log(common::LogLevel::kInfo, "deployment " + std::to_string(deployment) + " offered again after " +
                                             std::string(stage_name(current->state)) +
                                             ": trying again");
  }
  auto installed = download_and_install(update, deployment, *current);
  if (!installed) return std::optional<int>{};
  if (!installed->needs_reboot) return std::optional<int>{};
  if (installed->waits_for_window) {
    common::log(common::LogLevel::kInfo, "deployment " + std::to_string(deployment) + " is in slot " + installed->target_slot +
                                             " and waits for its activation window (" +
                                             describe_activation_window(update.value("activate_window", common::Json())) + ")");
    return std::optional<int>{};
  }
  if (installed->target_slot.empty()) {
    // An update module's change waits for a reboot: inside the window.
    auto after = agent_.state().update();
    if (!after) return std::unexpected(after.error());
    return switch_when_due(*after);
  }
  common::log(common::LogLevel::kInfo, "rebooting into slot " + installed->target_slot);
  return reboot();
}

common::Result<std::optional<int>> Daemon::switch_when_due(const UpdateState& current) {
  if (!agent_.activation_due()) {
    auto window = agent_.activation_window();
    common::log(common::LogLevel::kInfo, current.component + " " + current.version + " waits for its activation window (" +
                                             describe_activation_window(window ? *window : common::Json()) + ")");
    return std::optional<int>{};
  }
  if (current.state == Stage::kInstalled) {
    if (auto ok = agent_.arm_trial(); !ok) return std::unexpected(ok.error());
  }
  if (token_ || authenticate()) (void)deliver_outbox();
  common::log(common::LogLevel::kInfo, current.target_slot.empty() ? "rebooting: update module " + current.component + " " +
                                                                        current.version + " takes effect at the boot"
                                                                  : "rebooting into slot " + current.target_slot);
  return reboot();
}

// The server's answers are read field by field where they are used; a
// member of the wrong type (a server that does not follow the protocol,
// or something between that rewrote it) makes the JSON library throw.
// That ends this cycle with a named error and the usual backoff, never
// the agent: nothing it persisted is half-done (every stage is written
// whole before its action).
common::Result<Daemon::Next> Daemon::cycle() {
  try {
    return cycle_unguarded();
  } catch (const common::Json::exception& e) {
    return common::fail(Errc::kBadOffer, std::string("the server's answer does not follow the device protocol (") + e.what() +
                                             "); trying again later");
  }
}

common::Result<Daemon::Next> Daemon::cycle_unguarded() {
  Next next;
  // After a trial boot: commit or roll back first, and say so.
  auto current = agent_.state().update();
  if (!current) return std::unexpected(current.error());
  if (current->state == Stage::kInstalled && !current->target_slot.empty() && agent_.activation_due()) {
    // Written and verified, its trial not armed: its activation window
    // opened (the poll would say so too, but the server may be out of
    // reach), or arming failed (the boot environment could not be
    // written). Armed (again), then the reboot.
    auto switched = switch_when_due(*current);
    if (!switched) return std::unexpected(switched.error());
    if (*switched) {
      next.exit_code = *switched;
      return next;
    }
  }
  if (current->state == Stage::kRebooting || current->state == Stage::kVerifying) {
    auto outcome = agent_.verify_and_commit();
    if (!outcome) return std::unexpected(outcome.error());
    common::log(common::LogLevel::kInfo, outcome->detail);
    if (outcome->verdict == Agent::Verdict::kNotRebooted) {
      // The reboot an update waits for never came (a power cut before it,
      // a supervisor that only restarted the agent, or its window closed):
      // asked for again inside its activation window.
      auto after = agent_.state().update();
      if (!after) return std::unexpected(after.error());
      auto switched = switch_when_due(*after);
      if (!switched) return std::unexpected(switched.error());
      if (*switched) {
        next.exit_code = *switched;
        return next;
      }
    }
    if (outcome->verdict == Agent::Verdict::kRolledBack && current->target_slot == agent_.bootloader().booted_slot().value_or("")) {
      // Still running the bad slot: report if the server can be reached,
      // then reboot back into the good one either way.
      if (token_ || authenticate()) (void)deliver_outbox();
      next.exit_code = reboot();
      return next;
    }
  }
  if (!token_) {
    if (auto ok = authenticate(); !ok) return std::unexpected(ok.error());
  }
  auto unsent = agent_.state().outbox_size();
  outbox_pending_at_poll_ = !unsent || *unsent > 0;
  if (gateway_) gateway_->before_poll(*this);
  auto response = transport_.request("POST", "/api/v1/device/poll", poll_body(), {"Authorization: Bearer " + *token_});
  if (!response) return std::unexpected(response.error());
  if (response->status == 401) {
    token_.reset();
    (void)agent_.state().set_setting("device_token", "");
    return common::fail(common::Errc::kIo, "the device token expired");
  }
  auto answer = common::Json::parse(response->body, nullptr, false);
  if (response->status != 200) return common::fail(common::Errc::kIo, "poll refused (HTTP " + std::to_string(response->status) + ")");
  if (!answer.is_object()) return common::fail(Errc::kBadOffer, "the server's poll answer is not a JSON object; trying again later");
  if (answer.contains("poll_interval_s") && answer["poll_interval_s"].is_number_integer() &&
      answer["poll_interval_s"].get<int>() != poll_interval_s_) {
    poll_interval_s_ = answer["poll_interval_s"].get<int>();
    (void)agent_.state().set_setting("poll_interval_s", std::to_string(poll_interval_s_));
  }
  if (answer.contains("root_version") && answer["root_version"].is_number_integer()) {
    if (auto ok = follow_root(answer["root_version"].get<std::int64_t>()); !ok) {
      common::log(common::LogLevel::kWarn, "root rotation: " + ok.error().describe());
    }
  }
  if (auto ok = report_inventory(answer.value("inventory_required", false)); !ok) return std::unexpected(ok.error());
  if (auto ok = deliver_outbox(); !ok) return std::unexpected(ok.error());
  if (answer.contains("update") && answer["update"].is_object()) {
    auto exit = take_update(answer["update"]);
    if (!exit) return std::unexpected(exit.error());
    next.exit_code = *exit;
  }
  // The children's turn, unless this gateway is about to reboot into an
  // update of its own (they resume after it).
  if (gateway_ && !next.exit_code) {
    if (auto ok = gateway_->after_poll(answer, *this); !ok) return std::unexpected(ok.error());
  }
  const auto& c = agent_.config();
  next.wait = std::clamp(seconds(poll_interval_s_), c.poll_min, c.poll_max);
  // An update waiting for its activation window is switched to at the
  // window's start, not at the first poll after it: a poll interval
  // longer than the window would miss it.
  if (auto until = agent_.time_until_activation()) next.wait = std::clamp(*until, c.poll_min, next.wait);
  return next;
}

Daemon::RunEnd Daemon::run(const std::atomic<bool>& stop, const RunOptions& options) {
  std::mt19937_64 rng(std::random_device{}());
  seconds backoff = options.backoff;
  while (!stop) {
    auto next = cycle();
    seconds wait;
    if (!next) {
      common::log(common::LogLevel::kWarn, next.error().describe());
      // Exponential backoff while the server cannot be reached.
      backoff = backoff == seconds(0) ? agent_.config().poll_min : std::min(backoff * 2, agent_.config().poll_max);
      wait = backoff;
      if (options.once) return {.exit_code = 1};
    } else {
      backoff = seconds(0);
      if (next->exit_code) return {.exit_code = *next->exit_code};
      wait = next->wait;
      if (options.once) return {};
    }
    // ±10 % jitter spreads a fleet's polls.
    auto jitter = std::uniform_real_distribution<double>(0.9, 1.1)(rng);
    auto rest = std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(wait.count()) * 1000 * jitter));
    if (stop) break;
    if (options.rest_elsewhere) return {.rest = rest, .backoff = backoff};
    auto deadline = std::chrono::steady_clock::now() + rest;
    while (!stop && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return {};
}

}  // namespace flotilla::client
