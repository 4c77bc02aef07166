// The device side of the API (DESIGN.md §5, §6): enrollment, poll,
// signed inventory, signed deployment events, bundle download, roots.
//
// Threats handled here: a network attacker replaying a captured request
// (auth: timestamp window and single-use nonce; inventory: strictly
// increasing counter; events: idempotent on seq, so a replay changes
// nothing), a device speaking for another (every signed body is checked
// against the key the device enrolled with; the key id is the device id),
// and a device fetching bundles it was not given (downloads need an
// assignment of that bundle).
#include <set>

#include "artifacts/manifest.hpp"
#include "common/encoding.hpp"
#include "common/log.hpp"
#include "server/api/app.hpp"
#include "server/api/device_reports.hpp"
#include "server/api/reply.hpp"
#include "server/deployment_state.hpp"
#include "server/errors.hpp"
#include "signing/digest.hpp"
#include "signing/key.hpp"

namespace flotilla::server::api {
namespace {

constexpr auto kTimestampWindow = std::chrono::minutes(5);
constexpr auto kDeviceTokenLifetime = std::chrono::hours(24);
constexpr auto kInventoryMaxAge = std::chrono::hours(24);
constexpr auto kLastSeenGranularity = std::chrono::seconds(60);

// The two signature headers over the exact bytes of the body, by `key`.
// Each refusal names what is wrong: a device maker reads these.
std::optional<http::Response> check_body_signature(const http::Request& request, const signing::PublicKey& key,
                                                   std::string_view not_the_key) {
  auto key_id = request.header("X-Flotilla-Key-Id");
  if (!key_id) return problem(401, "a signed request needs the header X-Flotilla-Key-Id: the device id (its key id)");
  auto signature = request.header("X-Flotilla-Signature");
  if (!signature) return problem(401, "a signed request needs the header X-Flotilla-Signature: base64 of the body's signature");
  if (*key_id != key.key_id()) return problem(401, std::string(not_the_key));
  auto sig = common::from_base64(*signature);
  if (!sig) return problem(401, "X-Flotilla-Signature is not base64");
  if (auto ok = key.verify_canonical(common::as_bytes(request.body), *sig); !ok) {
    return problem(401, "the request signature does not verify (" + ok.error().message() + ")");
  }
  return std::nullopt;
}

}  // namespace

std::expected<ServerApp::Caller, http::Response> ServerApp::authenticate_device(const http::Request& request,
                                                                                bool with_offer) {
  auto header = request.header("Authorization");
  if (!header || !header->starts_with("Bearer ") || header->size() > 512) {
    return std::unexpected(problem(401, "send the device token from device/auth as 'Authorization: Bearer <token>'"));
  }
  auto hash = token_hash(header->substr(7));
  auto now = common::format_rfc3339(clock_());
  Caller caller;
  if (with_offer) {
    auto polled = store_.find_device_and_offer(hash, now);
    if (!polled) return std::unexpected(problem_from(polled.error()));
    if (*polled) {
      caller.device = std::move((*polled)->device);
      caller.offer = std::move((*polled)->offer);
    }
  } else {
    auto device = store_.find_device_by_token(hash, now);
    if (!device) return std::unexpected(problem_from(device.error()));
    caller.device = std::move(*device);
  }
  if (!caller.device) return std::unexpected(problem(401, "the device token is unknown, expired or revoked; authenticate again"));
  // A DDI device's target token opens the DDI routes only (docs/ddi.md).
  if (caller.device->protocol != "flotilla") {
    return std::unexpected(problem(401, "this device is served over DDI, at /{tenant}/controller/v1/{controllerId}"));
  }
  // Every authenticated request is contact (docs/device-protocol.md):
  // a device that only reports is heard from as much as one that polls.
  if (auto ok = note_contact(*caller.device); !ok) return std::unexpected(problem_from(ok.error()));
  caller.actor = "device:" + caller.device->id;
  caller.role = Role::kAuditor;
  return caller;
}

// A record read by token carries no last_seen (the hot path's read): it
// is always noted, in memory, and the batch keeps one time per device.
common::Status ServerApp::note_contact(const DeviceRecord& device) {
  auto now = clock_();
  if (device.last_seen && *device.last_seen >= common::format_rfc3339(now - kLastSeenGranularity)) return {};
  return store_.touch_device(device.key, now);
}

std::optional<http::Response> ServerApp::check_device_signature(const http::Request& request, const DeviceRecord& device) {
  auto key = signing::PublicKey::from_pem(device.public_key);
  if (!key) return problem_from(key.error());
  return check_body_signature(request, *key, "X-Flotilla-Key-Id is not this device's id: sign with the key it enrolled with");
}

http::Response ServerApp::device_auth(http::Request& request, const Params&, const Caller&) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"device_type", "identity", "public_key", "enrollment_token", "timestamp", "nonce"}); !ok) {
    return problem_from(ok.error());
  }
  auto device_type = body->string("device_type", 64);
  if (!device_type) return problem_from(device_type.error());
  if (!artifacts::is_safe_name(*device_type, 64)) return problem(400, "invalid device type", {{"/device_type", "must match [A-Za-z0-9._-]{1,64}"}});
  auto identity = body->object("identity");
  if (!identity) return problem_from(identity.error());
  if (auto bad = check_identity(*identity, false)) return *bad;
  auto pem = body->string("public_key", 4096);
  if (!pem) return problem_from(pem.error());
  auto key = signing::PublicKey::from_pem(*pem);
  if (!key) return problem(400, "invalid public key", {{"/public_key", key.error().message()}});
  auto timestamp_text = body->string("timestamp", 64);
  if (!timestamp_text) return problem_from(timestamp_text.error());
  auto timestamp = common::parse_rfc3339(*timestamp_text);
  if (!timestamp) return problem(400, "invalid timestamp", {{"/timestamp", timestamp.error().message()}});
  auto nonce = body->string("nonce", 128);
  if (!nonce) return problem_from(nonce.error());
  if (nonce->size() < 16) return problem(400, "invalid nonce", {{"/nonce", "must be 16 to 128 characters"}});

  // The body must be signed by the key it presents: proof of possession.
  if (auto refused = check_body_signature(request, *key, "X-Flotilla-Key-Id must be the key id of public_key")) return *refused;
  auto now = clock_();
  if (*timestamp > now + kTimestampWindow || *timestamp < now - kTimestampWindow) {
    // The signature verified: the device is who it says, its clock is off.
    // The server's time travels as a member of its own, so an agent can
    // correct its requests without parsing prose.
    auto refused = problem(401, "the timestamp is more than 5 minutes from the server's clock (" + common::format_rfc3339(now) + ")");
    auto problem_body = common::Json::parse(refused.body);
    problem_body["server_time"] = common::format_rfc3339(now);
    refused.body = problem_body.dump();
    return refused;
  }

  std::optional<std::string> enrollment;
  if (body->has("enrollment_token")) {
    auto secret = body->string("enrollment_token", 256);
    if (!secret) return problem_from(secret.error());
    enrollment = token_hash(*secret);
  }
  DeviceRecord device{.id = key->key_id(), .device_type = *device_type, .identity_json = identity->json().dump(),
                      .public_key = key->to_pem()};
  auto stored = store_.enroll_device(device, enrollment, *nonce, common::format_rfc3339(now),
                                     common::format_rfc3339(now - 2 * kTimestampWindow),
                                     {"device:" + device.id, "device.enroll", "device:" + device.id, "ok",
                                      {{"device_type", device.device_type}, {"identity", identity->json()}}});
  if (!stored) {
    if (stored.error().is(Errc::kReplay)) return problem(401, "the nonce was used before (replay)");
    if (stored.error().is(Errc::kEnrollmentRefused)) return problem(403, stored.error().message());
    return problem_from(stored.error());
  }
  if (stored->status == "pending") {
    return json_reply(202, {{"status", "pending"}, {"device_id", stored->id},
                            {"detail", "waiting for an operator to accept this device"}});
  }
  if (stored->status != "accepted") return problem(403, "this device is " + stored->status);
  std::string secret = "dev_" + common::to_hex(signing::random_bytes(32));
  auto expires = common::format_rfc3339(now + kDeviceTokenLifetime);
  if (auto ok = store_.issue_device_token(stored->id, token_hash(secret), expires); !ok) return problem_from(ok.error());
  if (auto ok = note_contact(*stored); !ok) return problem_from(ok.error());
  return json_reply(200, {{"status", "accepted"}, {"device_id", stored->id}, {"token", secret}, {"expires_at", expires},
                          {"poll_interval_s", poll_interval_s_}});
}

http::Response ServerApp::device_poll(http::Request& request, const Params&, const Caller& caller) {
  const auto& device = *caller.device;
  std::optional<std::string> digest;
  std::optional<std::int64_t> reported_counter;
  if (!request.body.empty()) {
    common::Json doc;
    auto body = json_body(request, doc);
    if (!body) return body.error();
    if (auto ok = body->only_keys({"inventory_digest", "counter"}); !ok) return problem_from(ok.error());
    if (body->has("inventory_digest")) {
      auto text = body->string("inventory_digest", 64);
      if (!text) return problem_from(text.error());
      // "" is a device that has sent no report yet (older agents send it).
      if (!text->empty() && !common::is_sha256_hex(*text)) {
        return problem(400, "invalid inventory digest", {{"/inventory_digest", "must be 64 lowercase hex digits (SHA-256 of the last inventory body sent)"}});
      }
      if (!text->empty()) digest = *text;
    }
    if (body->has("counter")) {
      auto counter = body->integer("counter", 1, kMaxDeviceCounter);
      if (!counter) return problem_from(counter.error());
      reported_counter = *counter;
    }
  }
  auto now = clock_();
  auto now_text = common::format_rfc3339(now);
  bool inventory_required = !device.inventory_digest || !digest || *digest != *device.inventory_digest ||
                            (reported_counter && *reported_counter != device.report_counter) ||
                            !device.inventory_at || *device.inventory_at < common::format_rfc3339(now - kInventoryMaxAge);
  auto root = trust_root();
  common::Json answer = {{"poll_interval_s", poll_interval_s_},
                         {"root_version", root ? root->version() : 0},
                         {"inventory_required", inventory_required},
                         {"update", nullptr}};
  auto offer = store_.take_offer(device.id, now_text, caller.offer);
  if (!offer) return problem_from(offer.error());
  if (*offer) answer["update"] = offer_json(**offer, device, now);
  // A gateway's poll carries its children's offers too (docs/gateway.md).
  if (device.gateway) {
    auto children = child_offers(device, now);
    if (!children) return problem_from(children.error());
    answer["children"] = std::move(*children);
  }
  return json_reply(200, answer);
}

common::Json ServerApp::offer_json(const Offer& o, const DeviceRecord& device, common::TimePoint now) {
  std::string own_url = public_url_ + "/api/v1/device/bundles/" + o.bundle.file_sha256;
  common::Json bundle = {{"url", own_url},
                         {"size", o.bundle.size},
                         {"file_sha256", o.bundle.file_sha256},
                         {"bundle_id", o.bundle.bundle_id}};
  if (!bundle_base_url_.empty()) {
    // A mirror serves the file by digest; the device checks every byte
    // against the release signature, and comes here when it cannot
    // reach the mirror.
    bundle["url"] = bundle_base_url_ + "/" + o.bundle.file_sha256 + ".flb";
    bundle["fallback_url"] = own_url;
  }
  return {{"deployment_id", o.deployment.id},
          {"bundle", bundle},
          {"allow_downgrade", o.deployment.allow_downgrade},
          {"deadline", o.deployment.deadline ? common::Json(*o.deployment.deadline) : common::Json(nullptr)},
          {"activate_window", activate_window(o.deployment, device, now)},
          {"state", o.state}};
}

http::Response ServerApp::device_inventory(http::Request& request, const Params&, const Caller& caller) {
  const auto& device = *caller.device;
  if (auto refused = check_device_signature(request, device)) return *refused;
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"counter", "timestamp", "components", "booted_slot", "agent_version", "utc_offset",
                                 "tamper", "health"});
      !ok) {
    return problem_from(ok.error());
  }
  auto report = inventory_report_of(request, *body, doc);
  if (!report) return report.error();
  if (auto ok = store_.record_inventory(device.id, *report, common::format_rfc3339(clock_())); !ok) {
    if (ok.error().is(Errc::kReplay)) return counter_refused(device.id, ok.error().message());
    return problem_from(ok.error());
  }
  return json_reply(200, {{"accepted", true}, {"counter", report->counter}, {"digest", report->digest}});
}

// 409 with the last accepted counter as a member of its own: a device
// that lost its counter (state wiped, restored from an image) continues
// above it instead of being refused for good. A captured report stays
// refused: its counter is at or below that one.
http::Response ServerApp::counter_refused(const std::string& device_id, const std::string& why) {
  auto refused = problem(409, why + "; send the report again with a counter above last_counter");
  auto current = store_.find_device(device_id);
  if (!current) return problem_from(current.error());
  auto body = common::Json::parse(refused.body);
  body["last_counter"] = *current ? (*current)->report_counter : 0;
  refused.body = body.dump();
  return refused;
}

http::Response ServerApp::device_event(http::Request& request, const Params& params, const Caller& caller) {
  const auto& device = *caller.device;
  auto deployment_id = parse_positive(params[0]);
  if (!deployment_id) return problem(400, "a deployment id is a positive integer");
  if (auto refused = check_device_signature(request, device)) return *refused;
  auto event = deployment_event_of(request);
  if (!event) return event.error();
  auto recorded = store_.record_event(*deployment_id, device.id, *event, common::format_rfc3339(clock_()));
  if (!recorded) {
    if (recorded.error().is(Errc::kBadTransition)) return problem(409, recorded.error().message());
    return problem_from(recorded.error());
  }
  return json_reply(200, {{"seq", event->seq}, {"duplicate", !*recorded}});
}

http::Response ServerApp::device_bundle(http::Request& request, const Params& params, const Caller& caller) {
  if (!common::is_sha256_hex(params[0])) return problem(400, "a bundle is named by its file SHA-256");
  auto allowed_download = store_.device_may_download(caller.device->id, params[0]);
  if (!allowed_download) return problem_from(allowed_download.error());
  // Same answer as for a bundle that does not exist: no probing.
  if (!*allowed_download) return problem(404, "no such bundle for this device");
  auto bundle = store_.find_bundle(params[0]);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle) return problem(404, "no such bundle for this device");
  return serve_bundle_file(request, **bundle);
}

http::Response ServerApp::device_trust(http::Request&, const Params& params, const Caller&) {
  const std::string& name = params[0];
  constexpr std::string_view kSuffix = ".root.json";
  if (!name.ends_with(kSuffix)) return problem(404, "roots are named <version>.root.json");
  auto version = parse_positive(name.substr(0, name.size() - kSuffix.size()));
  if (!version) return problem(404, "roots are named <version>.root.json");
  auto text = store_.setting(trust_root_version_setting(*version));
  if (!text) return problem_from(text.error());
  if (!*text) return problem(404, "no root version " + std::to_string(*version));
  http::Response response;
  response.body = **text;
  return response;
}

}  // namespace flotilla::server::api
