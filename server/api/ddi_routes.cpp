// hawkBit's Direct Device Integration API (docs/ddi.md) for devices that
// run an existing DDI client: /{tenant}/controller/v1/{controllerId}/...
//
// A DDI device is a device of the fleet with protocol "ddi": rollouts
// offer it bundles like any other, and what it reports moves the same
// deployment state machine. What differs is trust: a DDI client signs
// nothing, so its feedback is recorded as self-reported (no signature),
// and the only bundles it is served are those carrying SWUpdate images
// (payload type swu), which the client verifies with its own key.
//
// Threats handled here: a client speaking for another controller (the
// target token must belong to the device of the URL's controller id), an
// action id of another device (every action is looked up through the
// caller's own offer), hostile feedback (ddi::parse_feedback), and
// artifact names used as paths (only names from the signed manifest are
// served, looked up, never joined).
#include <fstream>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "artifacts/reader.hpp"
#include "common/encoding.hpp"
#include "common/log.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"
#include "server/ddi/ddi.hpp"
#include "server/deployment_state.hpp"
#include "server/errors.hpp"
#include "server/front/nginx_config.hpp"
#include "signing/digest.hpp"
#include "signing/key.hpp"

namespace flotilla::server::api {
namespace {

namespace fs = std::filesystem;

// SHA-1 and MD5 besides the manifest's SHA-256: DDI clients check the
// first (SWUpdate), some the second; neither is trusted for anything here.
class LegacyDigests {
 public:
  LegacyDigests() : sha1_(EVP_MD_CTX_new()), md5_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(sha1_, EVP_sha1(), nullptr);
    EVP_DigestInit_ex(md5_, EVP_md5(), nullptr);
  }
  ~LegacyDigests() {
    EVP_MD_CTX_free(sha1_);
    EVP_MD_CTX_free(md5_);
  }
  LegacyDigests(const LegacyDigests&) = delete;
  LegacyDigests& operator=(const LegacyDigests&) = delete;
  void update(std::span<const std::uint8_t> bytes) {
    EVP_DigestUpdate(sha1_, bytes.data(), bytes.size());
    EVP_DigestUpdate(md5_, bytes.data(), bytes.size());
  }
  std::pair<std::string, std::string> finish() { return {hex(sha1_), hex(md5_)}; }

 private:
  static std::string hex(EVP_MD_CTX* ctx) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, digest, &length);
    return common::to_hex(std::span<const std::uint8_t>(digest, length));
  }
  EVP_MD_CTX* sha1_;
  EVP_MD_CTX* md5_;
};

// Writes each swu payload of a verified bundle to DIR/<name>, with its
// legacy digests; nothing is kept unless the whole bundle verified.
class ArtifactSinks final : public artifacts::SinkFactory {
 public:
  explicit ArtifactSinks(fs::path dir) : dir_(std::move(dir)) {}
  std::vector<ddi::Artifact> artifacts;

  common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const artifacts::Manifest&,
                                                               const artifacts::Payload& payload) override {
    if (payload.type != artifacts::PayloadType::kSwu) return artifacts::DiscardSinkFactory().open({}, payload);
    artifacts.push_back({payload.name, payload.size, "", "", payload.sha256});
    return std::unique_ptr<artifacts::PayloadSink>(new Sink(dir_ / payload.name, artifacts.back()));
  }

 private:
  class Sink final : public artifacts::PayloadSink {
   public:
    Sink(fs::path path, ddi::Artifact& artifact) : path_(std::move(path)), artifact_(artifact), out_(path_, std::ios::binary) {}
    common::Status write(std::span<const std::uint8_t> bytes) override {
      digests_.update(bytes);
      out_.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!out_) return common::fail(common::Errc::kIo, "writing " + path_.string());
      return {};
    }
    common::Status finish() override {
      out_.close();
      if (!out_) return common::fail(common::Errc::kIo, "writing " + path_.string());
      std::tie(artifact_.sha1, artifact_.md5) = digests_.finish();
      return {};
    }
    common::Status commit() override { return {}; }
    void abort() override {}

   private:
    fs::path path_;
    ddi::Artifact& artifact_;
    std::ofstream out_;
    LegacyDigests digests_;
  };
  fs::path dir_;
};

common::Json artifacts_json(const std::vector<ddi::Artifact>& list) {
  common::Json out = common::Json::array();
  for (const auto& a : list) {
    out.push_back({{"filename", a.filename}, {"size", a.size}, {"sha1", a.sha1}, {"md5", a.md5}, {"sha256", a.sha256}});
  }
  return out;
}

std::vector<ddi::Artifact> artifacts_from(const common::Json& doc) {
  std::vector<ddi::Artifact> list;
  for (const auto& a : doc) {
    list.push_back({a["filename"], a["size"], a["sha1"], a["md5"], a["sha256"]});
  }
  return list;
}

bool carries_swu(const BundleRecord& bundle) {
  auto manifest = common::Json::parse(bundle.manifest_json, nullptr, false);
  if (!manifest.is_object() || !manifest["payloads"].is_array()) return false;
  for (const auto& p : manifest["payloads"]) {
    if (p.value("type", "") == "swu") return true;
  }
  return false;
}

// The recorded name of what a feedback reports, or nullopt for feedback
// that moves nothing (progress after the install, say).
std::optional<DeviceReport> report_of(const ddi::Feedback& feedback) {
  switch (feedback.outcome) {
    case ddi::Outcome::kProgress: return DeviceReport::kDownloading;
    case ddi::Outcome::kInstalled: return DeviceReport::kInstalling;
    case ddi::Outcome::kSuccess: return DeviceReport::kCommitted;
    case ddi::Outcome::kFailure:
    case ddi::Outcome::kCanceled: return DeviceReport::kFailed;
  }
  return std::nullopt;
}

// A feedback body for action `id`, or the 400 that refuses it.
std::expected<ddi::Feedback, http::Response> feedback_for(const http::Request& request, std::int64_t id) {
  auto feedback = ddi::parse_feedback(request.body);
  if (!feedback) return std::unexpected(problem(400, "invalid feedback: " + feedback.error().message()));
  if (feedback->id && *feedback->id != id) {
    return std::unexpected(problem(400, "invalid feedback", {{"/id", "is not the action of the URL"}}));
  }
  return *feedback;
}

}  // namespace

std::expected<ServerApp::Caller, http::Response> ServerApp::authenticate_ddi_action(const http::Request& request,
                                                                                    const Params& params) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller;
  auto id = parse_positive(params[2]);
  const auto& offer = *caller->offer;
  // Another device's action, a closed one and a made-up one look alike.
  if (!id || !offer || offer->deployment.id != *id) return std::unexpected(problem(404, "no such open action for this controller"));
  return caller;
}

std::string ServerApp::ddi_controller_url(const std::string& controller_id) const {
  return public_url_ + "/" + ddi_tenant_ + "/controller/v1/" + controller_id;
}

std::expected<ServerApp::Caller, http::Response> ServerApp::authenticate_ddi(const http::Request& request,
                                                                             const Params& params) {
  // hawkBit answers an unknown tenant like an unknown resource.
  if (params[0] != ddi_tenant_) return std::unexpected(problem(404, "no such tenant"));
  if (!ddi::is_controller_id(params[1])) {
    return std::unexpected(problem(400, "invalid controller id", {{"/controllerId", "must match [A-Za-z0-9._:@-]{1,128}"}}));
  }
  auto header = request.header("Authorization");
  auto scheme = [&](std::string_view name) {
    return header && header->size() <= 512 && header->size() > name.size() &&
           std::equal(name.begin(), name.end(), header->begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  };
  constexpr std::string_view kTarget = "TargetToken ", kGateway = "GatewayToken ";
  std::optional<Store::PolledDevice> polled;
  if (scheme(kTarget)) {
    auto found = store_.find_device_and_offer(token_hash(header->substr(kTarget.size())), common::format_rfc3339(clock_()));
    if (!found) return std::unexpected(problem_from(found.error()));
    // One answer whether the token is unknown or another controller's.
    if (!*found || (*found)->device.protocol != "ddi" || (*found)->device.id != ddi::device_id_for(params[1])) {
      return std::unexpected(problem(401, "the target token is unknown, revoked or not this controller's"));
    }
    polled = std::move(**found);
  } else if (scheme(kGateway)) {
    auto found = ddi_gateway_device(header->substr(kGateway.size()), params[1]);
    if (!found) return std::unexpected(found.error());
    polled = std::move(*found);
  } else {
    auto refused = problem(401, "send the device's target token as 'Authorization: TargetToken <token>'");
    refused.headers["WWW-Authenticate"] = "TargetToken";
    return std::unexpected(refused);
  }
  if (ddi_client_certificates_) {
    // Behind a front that asks for client certificates, a DDI device
    // proves its controller id twice: token and certificate.
    auto verified = request.header(front::kClientVerifyHeader);
    auto subject = request.header(front::kClientSubjectHeader);
    auto name = subject ? ddi::common_name(*subject) : std::nullopt;
    if (!verified || *verified != "SUCCESS" || !name || *name != params[1]) {
      return std::unexpected(problem(401, "present a client certificate whose subject CN is this controller id"));
    }
  }
  Caller caller;
  caller.device = std::move(polled->device);
  caller.offer = std::move(polled->offer);
  caller.actor = "device:" + caller.device->id;
  caller.client = request.remote_address;
  if (auto ok = note_contact(*caller.device); !ok) return std::unexpected(problem_from(ok.error()));
  return caller;
}

std::expected<Store::PolledDevice, http::Response> ServerApp::ddi_gateway_device(std::string_view secret,
                                                                                const std::string& controller_id) {
  // hawkBit's gateway token: one secret for the tenant, with which a
  // gateway (or a fleet configured alike) speaks for any controller. An
  // unknown controller becomes a pending device for an operator to accept.
  auto stored = store_.setting(kDdiGatewayTokenSetting);
  if (!stored) return std::unexpected(problem_from(stored.error()));
  auto token = *stored ? common::Json::parse(**stored, nullptr, false) : common::Json();
  std::string expected = token.is_object() ? token.value("hash", "") : "";
  std::string given = token_hash(std::string(secret));
  if (expected.size() != given.size() || CRYPTO_memcmp(expected.data(), given.data(), given.size()) != 0) {
    return std::unexpected(problem(401, "the gateway token is unknown or revoked"));
  }
  auto id = ddi::device_id_for(controller_id);
  auto device = store_.find_device(id);
  if (!device) return std::unexpected(problem_from(device.error()));
  if (!*device) {
    DeviceRecord pending{.id = id, .device_type = token.value("device_type", ""),
                         .identity_json = common::Json{{"controller_id", controller_id}}.dump(), .status = "pending"};
    auto created = store_.create_ddi_device(pending, std::nullopt, common::format_rfc3339(clock_()),
                                            {"device:" + id, "device.enroll", "device:" + id, "ok",
                                             {{"protocol", "ddi"}, {"controller_id", controller_id}, {"via", "gateway token"},
                                              {"status", "pending"}}});
    // Two first polls at once: the other one registered it.
    if (!created && !created.error().is(common::Errc::kConflict)) return std::unexpected(problem_from(created.error()));
    device = store_.find_device(id);
    if (!device || !*device) return std::unexpected(problem(500, "the device could not be registered; see the server log"));
  }
  if ((*device)->protocol != "ddi") return std::unexpected(problem(401, "the gateway token is not for this controller"));
  if ((*device)->status != "accepted") {
    return std::unexpected(problem(403, "this controller is " + (*device)->status + "; an operator accepts it with flotilla devices accept"));
  }
  auto offer = store_.take_offer(id, common::format_rfc3339(clock_()));
  if (!offer) return std::unexpected(problem_from(offer.error()));
  return Store::PolledDevice{std::move(**device), std::move(*offer)};
}

http::Response ServerApp::create_ddi_gateway_token(http::Request& request, const Params&, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"device_type"}); !ok) return problem_from(ok.error());
  auto device_type = body->string("device_type", 64);
  if (!device_type) return problem_from(device_type.error());
  if (!artifacts::is_safe_name(*device_type, 64)) return problem(400, "invalid device type", {{"/device_type", "must match [A-Za-z0-9._-]{1,64}"}});
  std::string secret = "ddigw_" + common::to_hex(signing::random_bytes(24));
  auto created_at = common::format_rfc3339(clock_());
  common::Json stored = {{"hash", token_hash(secret)}, {"device_type", *device_type}, {"created_at", created_at}};
  // One per tenant, as in hawkBit: a new one replaces the old at once.
  if (auto ok = store_.set_settings({{kDdiGatewayTokenSetting, stored.dump()}},
                                    caller.audit("ddi.gateway_token.create", "ddi:" + ddi_tenant_, "ok", {{"device_type", *device_type}}));
      !ok) {
    return problem_from(ok.error());
  }
  return json_reply(201, {{"gateway_token", secret}, {"tenant", ddi_tenant_}, {"device_type", *device_type}, {"created_at", created_at}});
}

http::Response ServerApp::revoke_ddi_gateway_token(http::Request&, const Params&, const Caller& caller) {
  auto stored = store_.setting(kDdiGatewayTokenSetting);
  if (!stored) return problem_from(stored.error());
  if (!*stored || (*stored)->empty()) return problem(404, "there is no gateway token");
  if (auto ok = store_.set_settings({{kDdiGatewayTokenSetting, ""}}, caller.audit("ddi.gateway_token.revoke", "ddi:" + ddi_tenant_));
      !ok) {
    return problem_from(ok.error());
  }
  return json_reply(200, {{"revoked", true}});
}

common::Result<std::vector<ddi::Artifact>> ServerApp::ddi_artifacts(const BundleRecord& bundle) {
  // Extracted once per bundle, beside it (so servers sharing the bundle
  // directory share them), from the bundle verified again against the
  // trust root: what a DDI client downloads is what the release signed.
  // A bundle never changes under its digest: once read, its artifacts are
  // kept in memory, so a poll reads no file.
  std::lock_guard lock(ddi_mutex_);
  if (auto known = ddi_artifacts_.find(bundle.file_sha256); known != ddi_artifacts_.end()) return known->second;
  fs::path dir = bundle_dir_ / (bundle.file_sha256 + ".ddi");
  fs::path index = dir / "artifacts.json";
  if (std::ifstream in{index}) {
    auto doc = common::Json::parse(in, nullptr, false);
    if (doc.is_array()) return ddi_artifacts_[bundle.file_sha256] = artifacts_from(doc);
  }
  auto root = trust_root();
  if (!root) return common::fail(common::Errc::kConflict, "no trust root is configured");
  fs::path part = dir;
  part += ".part-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(part, ec);
  fs::create_directories(part, ec);
  if (ec) return common::fail(common::Errc::kIo, "creating " + part.string() + ": " + ec.message());
  auto source = artifacts::FileSource::open(bundle_path(bundle.file_sha256).string());
  if (!source) return std::unexpected(source.error());
  ArtifactSinks sinks(part);
  artifacts::VerifyOptions options{.root = root.get(), .now = clock_(), .expected_bundle_id = bundle.bundle_id};
  auto verified = artifacts::read_bundle(**source, options, sinks);
  if (!verified) {
    fs::remove_all(part, ec);
    return std::unexpected(verified.error().with_context("bundle " + bundle.file_sha256));
  }
  {
    std::ofstream out(part / "artifacts.json");
    out << artifacts_json(sinks.artifacts).dump();
    if (!out) return common::fail(common::Errc::kIo, "writing " + (part / "artifacts.json").string());
  }
  fs::remove_all(dir, ec);
  fs::rename(part, dir, ec);
  if (ec) return common::fail(common::Errc::kIo, "storing " + dir.string() + ": " + ec.message());
  return ddi_artifacts_[bundle.file_sha256] = sinks.artifacts;
}

std::expected<ddi::Action, http::Response> ServerApp::ddi_action(const Caller& caller, const std::string& controller_id,
                                                                 std::string_view action_text) {
  auto id = parse_positive(action_text);
  const auto& offer = *caller.offer;
  // Another device's action, a finished one and a made-up one look alike.
  if (!id || !offer || offer->deployment.id != *id) return std::unexpected(problem(404, "no such action for this controller"));
  auto bundle = store_.find_bundle(offer->bundle.file_sha256);
  if (!bundle) return std::unexpected(problem_from(bundle.error()));
  if (!*bundle) return std::unexpected(problem(404, "no such action for this controller"));
  if (!carries_swu(**bundle)) {
    // A rollout aimed a bundle for flotilla-agent at a DDI device: the
    // attempt fails with the reason, once, instead of serving nothing.
    if (auto ok = record_ddi_report(caller, DeviceReport::kFailed, 0,
                                    "bundle " + (*bundle)->name + " carries no SWUpdate image (payload type swu); "
                                    "devices served over DDI install only those", "");
        !ok) {
      return std::unexpected(problem_from(ok.error()));
    }
    return std::unexpected(problem(404, "no such action for this controller"));
  }
  auto action = ddi_action_of(*id, **bundle, controller_id);
  if (!action) return action;
  auto window = activate_window(offer->deployment, *caller.device, clock_());
  if (!window.is_null()) {
    action->in_window = window["start"].is_string() && window["start"].get<std::string>() <= common::format_rfc3339(clock_());
  }
  return action;
}

std::expected<ddi::Action, http::Response> ServerApp::ddi_action_of(std::int64_t id, const BundleRecord& bundle,
                                                                    const std::string& controller_id) {
  auto artifacts = ddi_artifacts(bundle);
  if (!artifacts) {
    common::log(common::LogLevel::kError, "DDI artifacts of bundle " + bundle.file_sha256 + ": " + artifacts.error().describe());
    return std::unexpected(problem(500, "the action's artifacts cannot be served; see the server log"));
  }
  return ddi::Action{.id = id, .part = bundle.kind, .name = bundle.name, .version = bundle.version,
                     .artifacts = std::move(*artifacts), .controller_url = ddi_controller_url(controller_id)};
}

common::Status ServerApp::record_ddi_report(const Caller& caller, DeviceReport report, int progress, std::string message,
                                            const std::string& body) {
  const auto& offer = **caller.offer;
  DeploymentEvent event{.seq = 0, .state = std::string(recorded_name(report)), .progress = progress,
                        .message = std::move(message), .time = common::format_rfc3339(clock_()), .body = body};
  if (report == DeviceReport::kCommitted) event.running_version = offer.bundle.version;
  auto current = parse_deployment_state(offer.state);
  // DDI clients send progress freely (after the install too): what the
  // state machine would refuse moves nothing and is not an error.
  if (!current || is_final(*current) || !apply_report(*current, report)) return {};
  // A resumed download, or progress without a figure: nothing new to keep.
  if (report == DeviceReport::kDownloading && *current == DeploymentState::kDownloading && progress == 0) return {};
  auto recorded = store_.record_event(offer.deployment.id, caller.device->id, event, event.time);
  if (!recorded && recorded.error().is(Errc::kBadTransition)) return {};
  if (!recorded) return std::unexpected(recorded.error());
  if (report != DeviceReport::kCommitted) return {};
  return record_ddi_inventory(*caller.device, offer.bundle);
}

common::Status ServerApp::record_ddi_inventory(const DeviceRecord& device, const BundleRecord& bundle) {
  // The installed version a DDI device reports is its word only
  // (compliance evidence "self-reported (ddi)"); it is kept as an
  // inventory report without signature, the components before it merged.
  auto full = store_.find_device(device.id);
  if (!full) return std::unexpected(full.error());
  if (!*full) return common::fail(common::Errc::kNotFound, "no device " + device.id);
  common::Json components = common::Json::object();
  if ((*full)->inventory) {
    auto last = common::Json::parse(*(*full)->inventory, nullptr, false);
    if (last.is_object() && last["components"].is_object()) components = last["components"];
  }
  components[bundle.component] = {{"version", bundle.version}, {"security_version", bundle.security_version}};
  std::int64_t counter = (*full)->report_counter + 1;
  common::Json body = {{"counter", counter}, {"timestamp", common::format_rfc3339(clock_())}, {"components", components},
                       {"evidence", "self-reported (ddi)"}};
  InventoryReport report{counter, body.dump(), "", "", false};
  report.digest = signing::sha256_hex(report.body);
  for (const auto& [name, value] : components.items()) {
    report.components.push_back({name, value["version"].get<std::string>(), value["security_version"].get<std::int64_t>()});
  }
  return store_.record_inventory(device.id, report, common::format_rfc3339(clock_()));
}

http::Response ServerApp::ddi_base(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller.error();
  auto now = clock_();
  auto offer = store_.take_offer(caller->device->id, common::format_rfc3339(now), caller->offer);
  if (!offer) return problem_from(offer.error());
  std::optional<std::int64_t> action;
  bool cancel = false;
  if (*offer) {
    caller->offer = *offer;
    auto canceling = ddi_cancels(**offer);
    if (!canceling) return problem_from(canceling.error());
    cancel = *canceling;
    auto exposed = cancel ? std::expected<ddi::Action, http::Response>(ddi::Action{.id = (*offer)->deployment.id})
                          : ddi_action(*caller, params[1], std::to_string((*offer)->deployment.id));
    if (exposed && exposed->in_window.value_or(true)) action = exposed->id;
  }
  bool want_config = !caller->device->attributes.has_value();
  return json_reply(200, ddi::base_poll(ddi_controller_url(params[1]), poll_interval_s_, action, want_config, cancel));
}

common::Result<bool> ServerApp::ddi_cancels(const Offer& offer) {
  // An aborted rollout takes back what no device started on (the store
  // withdraws pending offers); a DDI client told of an action it has not
  // installed yet is asked to cancel it instead (hawkBit's cancelAction).
  if (!offer.deployment.rollout_id) return false;
  auto state = parse_deployment_state(offer.state);
  if (!state || (*state != DeploymentState::kOffered && *state != DeploymentState::kDownloading)) return false;
  auto rollout = store_.find_rollout(*offer.deployment.rollout_id);
  if (!rollout) return std::unexpected(rollout.error());
  return *rollout && (*rollout)->state == RolloutState::kAborted && (*rollout)->deployment_id == offer.deployment.id;
}

http::Response ServerApp::ddi_cancel_action(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi_action(request, params);
  if (!caller) return caller.error();
  const auto& offer = **caller->offer;
  auto canceling = ddi_cancels(offer);
  if (!canceling) return problem_from(canceling.error());
  if (!*canceling) return problem(404, "this action is not being canceled");
  return json_reply(200, ddi::cancel_action(offer.deployment.id));
}

http::Response ServerApp::ddi_cancel_feedback(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi_action(request, params);
  if (!caller) return caller.error();
  auto feedback = feedback_for(request, (**caller->offer).deployment.id);
  if (!feedback) return feedback.error();
  // Acknowledged (closed, or canceled): the attempt ends here. Rejected:
  // the client goes on, and its later feedback is recorded as it comes.
  bool acknowledged = (feedback->execution == "closed" && feedback->finished != "failure") || feedback->execution == "canceled";
  if (acknowledged) {
    std::string message = "canceled: the rollout was aborted; the device acknowledged";
    if (!feedback->details.empty()) message += " (" + feedback->details + ")";
    if (auto ok = record_ddi_report(*caller, DeviceReport::kFailed, 0, message, request.body); !ok) return problem_from(ok.error());
  }
  return json_reply(200, common::Json::object());
}

http::Response ServerApp::ddi_deployment_base(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller.error();
  auto action = ddi_action(*caller, params[1], params[2]);
  if (!action) return action.error();
  // Fetching the action is the download's start.
  if (auto ok = record_ddi_report(*caller, DeviceReport::kDownloading, 0, "deployment fetched", ""); !ok) return problem_from(ok.error());
  return json_reply(200, ddi::deployment_base(*action));
}

http::Response ServerApp::ddi_installed_base(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller.error();
  // An action this device finished with success: what it runs.
  auto id = parse_positive(params[2]);
  auto taken = store_.device_deployments(caller->device->id);
  if (!taken) return problem_from(taken.error());
  auto done = std::find_if(taken->begin(), taken->end(), [&](const DeploymentDevice& d) {
    return id && d.deployment_id == *id && d.state == state_name(DeploymentState::kSucceeded);
  });
  if (done == taken->end()) return problem(404, "no such installed action for this controller");
  auto deployment = store_.find_deployment(*id);
  if (!deployment) return problem_from(deployment.error());
  if (!*deployment) return problem(404, "no such installed action for this controller");
  auto bundle = store_.find_bundle((*deployment)->bundle);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle || !carries_swu(**bundle)) return problem(404, "no such installed action for this controller");
  auto action = ddi_action_of(*id, **bundle, params[1]);
  if (!action) return action.error();
  return json_reply(200, ddi::installed_base(*action));
}

http::Response ServerApp::ddi_feedback(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi_action(request, params);
  if (!caller) return caller.error();
  auto feedback = feedback_for(request, (**caller->offer).deployment.id);
  if (!feedback) return feedback.error();
  auto report = report_of(*feedback);
  std::string message = feedback->details.empty() ? feedback->execution : feedback->details;
  if (feedback->outcome == ddi::Outcome::kCanceled) message = "canceled by the device: " + message;
  if (report) {
    if (auto ok = record_ddi_report(*caller, *report, feedback->percent(), message, request.body); !ok) return problem_from(ok.error());
  }
  return json_reply(200, common::Json::object());
}

http::Response ServerApp::ddi_config_data(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller.error();
  common::Json kept = common::Json::object();
  if (caller->device->attributes) kept = common::Json::parse(*caller->device->attributes, nullptr, false);
  auto attributes = ddi::apply_config_data(request.body, kept);
  if (!attributes) return problem(400, "invalid configData: " + attributes.error().message());
  if (auto ok = store_.set_device_attributes(caller->device->id, attributes->dump()); !ok) return problem_from(ok.error());
  return json_reply(200, common::Json::object());
}

http::Response ServerApp::ddi_artifact(http::Request& request, const Params& params, const Caller&) {
  auto caller = authenticate_ddi(request, params);
  if (!caller) return caller.error();
  auto action = ddi_action(*caller, params[1], params[2]);
  if (!action) return action.error();
  auto artifact = std::find_if(action->artifacts.begin(), action->artifacts.end(),
                               [&](const ddi::Artifact& a) { return a.filename == params[3]; });
  if (artifact == action->artifacts.end()) return problem(404, "no such artifact in this action");
  if (request.method == "GET") {
    if (auto ok = record_ddi_report(*caller, DeviceReport::kDownloading, 0, "downloading " + artifact->filename, ""); !ok) {
      return problem_from(ok.error());
    }
  }
  auto name = (**caller->offer).bundle.file_sha256 + ".ddi/" + artifact->filename;
  return serve_stored_file(request, name, artifact->size, "\"" + artifact->sha256 + "\"");
}

}  // namespace flotilla::server::api
