// Operator side: enrollment tokens and devices.

#include <map>

#include "artifacts/manifest.hpp"
#include "common/encoding.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"
#include "server/compliance/export.hpp"
#include "signing/digest.hpp"
#include "signing/key.hpp"

namespace flotilla::server::api {
namespace {

constexpr std::size_t kMaxLabels = 64;

common::Json parsed(const std::string& text) { return common::Json::parse(text, nullptr, false); }

common::Json device_json(const DeviceRecord& d, bool with_inventory) {
  common::Json out = {{"id", d.id},
                      {"device_type", d.device_type},
                      {"identity", parsed(d.identity_json)},
                      {"status", d.status},
                      {"labels", parsed(d.labels_json)},
                      {"created_at", d.created_at},
                      {"last_seen", d.last_seen ? common::Json(*d.last_seen) : common::Json(nullptr)},
                      {"tampered", d.tampered},
                      // How the device talks to the server and what vouches
                      // for what it says (docs/ddi.md).
                      {"protocol", d.protocol},
                      {"auth", d.protocol == "ddi" ? "target-token" : d.protocol == "child" ? "gateway-key" : "device-key"},
                      // Field gateways (docs/gateway.md).
                      {"gateway", d.gateway},
                      {"parent", d.parent ? common::Json(*d.parent) : common::Json(nullptr)}};
  if (d.protocol == "child") {
    out["child_id"] = d.child_id.value_or("");
    out["orphaned"] = d.orphaned;
  }
  if (d.protocol == "ddi") out["attributes"] = d.attributes ? parsed(*d.attributes) : common::Json(nullptr);
  if (with_inventory) {
    out["public_key"] = d.public_key;
    out["inventory"] = d.inventory ? parsed(*d.inventory) : common::Json(nullptr);
    out["inventory_digest"] = d.inventory_digest ? common::Json(*d.inventory_digest) : common::Json(nullptr);
    out["inventory_at"] = d.inventory_at ? common::Json(*d.inventory_at) : common::Json(nullptr);
    out["report_counter"] = d.report_counter;
  }
  return out;
}

}  // namespace

http::Response ServerApp::create_enrollment_token(http::Request& request, const Params&, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"name", "device_types", "max_uses", "expires_at", "gateway"}); !ok) return problem_from(ok.error());
  auto name = body->string("name", 64);
  if (!name) return problem_from(name.error());
  if (!artifacts::is_safe_name(*name, 64)) return problem(400, "invalid name", {{"/name", "must match [A-Za-z0-9._-]{1,64}"}});
  auto types = body->array("device_types", 64);
  if (!types) return problem_from(types.error());
  if ((*types)->empty()) return problem(400, "invalid device types", {{"/device_types", "must name at least one type"}});
  for (std::size_t i = 0; i < (*types)->size(); ++i) {
    const auto& t = (**types)[i];
    if (!t.is_string() || !artifacts::is_safe_name(t.get_ref<const std::string&>(), 64)) {
      return problem(400, "invalid device types", {{common::pointer_join("/device_types", i), "must be a device type"}});
    }
  }
  auto max_uses = body->integer("max_uses", 1, 1000000);
  if (!max_uses) return problem_from(max_uses.error());
  auto expires_text = body->string("expires_at", 64);
  if (!expires_text) return problem_from(expires_text.error());
  auto expires = common::parse_rfc3339(*expires_text);
  if (!expires) return problem(400, "invalid expiry", {{"/expires_at", expires.error().message()}});
  if (*expires <= clock_()) return problem(400, "invalid expiry", {{"/expires_at", "is in the past"}});
  // gateway: the devices it enrolls may enroll children (docs/gateway.md).
  bool gateway = false;
  if (body->has("gateway")) {
    if (!doc["gateway"].is_boolean()) return problem(400, "invalid gateway", {{"/gateway", "must be true or false"}});
    gateway = doc["gateway"].get<bool>();
  }
  EnrollmentTokenRecord token{.name = *name, .device_types_json = (**types).dump(), .max_uses = *max_uses,
                              .expires_at = common::format_rfc3339(*expires), .created_at = common::format_rfc3339(clock_()),
                              .gateway = gateway};
  std::string secret = "enr_" + common::to_hex(signing::random_bytes(32));
  auto id = store_.create_enrollment_token(token, token_hash(secret),
                                           caller.audit("enrollment_token.create", "enrollment_token:" + token.name, "ok",
                                            {{"device_types", **types}, {"max_uses", *max_uses}, {"expires_at", token.expires_at},
                                             {"gateway", gateway}}));
  if (!id) return problem_from(id.error());
  return json_reply(201, {{"id", *id}, {"name", token.name}, {"device_types", **types}, {"max_uses", token.max_uses},
                          {"expires_at", token.expires_at}, {"gateway", gateway}, {"token", secret}});
}

http::Response ServerApp::list_enrollment_tokens(http::Request&, const Params&, const Caller&) {
  auto tokens = store_.list_enrollment_tokens();
  if (!tokens) return problem_from(tokens.error());
  common::Json out = common::Json::array();
  for (const auto& t : *tokens) {
    out.push_back({{"id", t.id}, {"name", t.name}, {"device_types", parsed(t.device_types_json)}, {"max_uses", t.max_uses},
                   {"uses", t.uses}, {"expires_at", t.expires_at}, {"created_at", t.created_at}, {"revoked", t.revoked},
                   {"gateway", t.gateway}});
  }
  return json_reply(200, {{"enrollment_tokens", out}});
}

http::Response ServerApp::revoke_enrollment_token(http::Request&, const Params& params, const Caller& caller) {
  auto id = parse_positive(params[0]);
  if (!id) return problem(400, "an enrollment token id is a positive integer");
  auto ok = store_.revoke_enrollment_token(*id, caller.audit("enrollment_token.revoke", "enrollment_token:" + params[0]));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", *id}, {"revoked", true}});
}

http::Response ServerApp::list_devices(http::Request& request, const Params&, const Caller&) {
  DeviceFilter filter;
  auto query = [&](const char* key) -> std::optional<std::string> {
    auto it = request.query.find(key);
    return it == request.query.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  if (auto type = query("type")) filter.device_type = *type;
  if (auto status = query("status")) {
    if (*status != "pending" && *status != "accepted" && *status != "rejected" && *status != "decommissioned") {
      return problem(400, "invalid query", {{"status", "must be pending, accepted, rejected or decommissioned"}});
    }
    filter.status = *status;
  }
  if (auto label = query("label")) {
    auto eq = label->find('=');
    if (eq == std::string::npos || eq == 0) return problem(400, "invalid query", {{"label", "must be KEY=VALUE"}});
    filter.label = std::pair{label->substr(0, eq), label->substr(eq + 1)};
  }
  for (auto [key, target] : {std::pair{"seen_before", &filter.seen_before}, std::pair{"seen_after", &filter.seen_after}}) {
    if (auto text = query(key)) {
      auto when = common::parse_rfc3339(*text);
      if (!when) return problem(400, "invalid query", {{key, "must be an RFC 3339 time"}});
      *target = common::format_rfc3339(*when);
    }
  }
  if (auto tampered = query("tampered")) {
    if (*tampered != "true" && *tampered != "false") return problem(400, "invalid query", {{"tampered", "must be true or false"}});
    filter.tampered = *tampered == "true";
  }
  if (auto protocol = query("protocol")) {
    if (*protocol != "flotilla" && *protocol != "ddi" && *protocol != "child") {
      return problem(400, "invalid query", {{"protocol", "must be flotilla, ddi or child"}});
    }
    filter.protocol = *protocol;
  }
  if (auto parent = query("parent")) {
    if (!common::is_sha256_hex(*parent)) return problem(400, "invalid query", {{"parent", "must be a device id (64 hex digits)"}});
    filter.parent = *parent;
  }
  if (auto limit = query("limit")) {
    auto n = parse_positive(*limit);
    if (!n || *n > 10000) return problem(400, "invalid query", {{"limit", "must be 1 to 10000"}});
    filter.limit = *n;
  }
  if (auto offset = query("offset")) {
    auto n = *offset == "0" ? std::optional<std::int64_t>(0) : parse_positive(*offset);
    if (!n) return problem(400, "invalid query", {{"offset", "must be a non-negative integer"}});
    filter.offset = *n;
  }
  auto devices = store_.list_devices(filter);
  if (!devices) return problem_from(devices.error());
  common::Json out = common::Json::array();
  for (const auto& d : *devices) out.push_back(device_json(d, false));
  return json_reply(200, {{"devices", out}});
}

// The fleet at a glance, counted in the database in one pass: devices by
// status and by type, tampered ones, and how recently they were heard from.
http::Response ServerApp::fleet_summary(http::Request&, const Params&, const Caller&) {
  auto now = clock_();
  auto counts = store_.count_fleet(std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  if (!counts) return problem_from(counts.error());
  std::int64_t total = 0, tampered = 0;
  std::map<std::string, std::int64_t> by_status, seen;
  std::map<std::string, std::map<std::string, std::int64_t>> by_type;
  for (const auto& c : *counts) {
    total += c.count;
    by_status[c.status] += c.count;
    by_type[c.device_type][c.status] += c.count;
    if (c.tampered) tampered += c.count;
    // Freshness is about the devices that should be talking to us.
    if (c.status == "accepted") seen[c.seen] += c.count;
  }
  common::Json types = common::Json::object();
  for (const auto& [type, statuses] : by_type) {
    std::int64_t of_type = 0;
    for (const auto& [status, n] : statuses) of_type += n;
    types[type] = {{"total", of_type}, {"by_status", statuses}};
  }
  common::Json freshness = common::Json::object();
  for (const char* bucket : {"5m", "1h", "24h", "older", "never"}) freshness[bucket] = seen[bucket];
  return json_reply(200, {{"generated_at", common::format_rfc3339(now)}, {"total", total}, {"by_status", by_status},
                          {"by_type", types}, {"tampered", tampered}, {"last_seen", freshness}});
}

http::Response ServerApp::show_device(http::Request& request, const Params& params, const Caller&) {
  std::optional<std::string> baseline;
  if (auto it = request.query.find("baseline"); it != request.query.end()) baseline = it->second;
  auto device = store_.find_device(params[0]);
  if (!device) return problem_from(device.error());
  if (!*device) return problem(404, "no such device");
  auto out = device_json(**device, true);
  auto deployments = store_.device_deployments(params[0]);
  if (!deployments) return problem_from(deployments.error());
  out["deployments"] = common::Json::array();
  for (const auto& d : *deployments) {
    out["deployments"].push_back({{"deployment_id", d.deployment_id}, {"state", d.state}, {"progress", d.progress},
                                  {"message", d.message}, {"updated_at", d.updated_at},
                                  {"running_version", d.running_version ? common::Json(*d.running_version) : common::Json(nullptr)}});
  }
  // The same function as every report: a device cannot show one status here and another there.
  auto status = compliance::device_compliance(store_, params[0], baseline, clock_());
  if (!status) {
    if (status.error().is(common::Errc::kNotFound)) return problem(404, "no such baseline");
    return problem_from(status.error());
  }
  out["compliance"] = status->value_or(common::Json(nullptr));
  return json_reply(200, out);
}

// The evidence a report row names: the exact bytes the device signed, its
// signature and key, so anyone can check them without trusting the server.
http::Response ServerApp::device_inventory_evidence(http::Request&, const Params& params, const Caller&) {
  auto device = store_.find_device(params[0]);
  if (!device) return problem_from(device.error());
  if (!*device) return problem(404, "no such device");
  auto report = store_.signed_inventory(params[0]);
  if (!report) return problem_from(report.error());
  if (!*report) return problem(404, "the device has not sent a signed inventory report");
  // A child's report is signed by its gateway (docs/gateway.md): the key
  // that verifies it is the gateway's, named as the signer.
  std::string signer = (*device)->id;
  std::string public_key = (*device)->public_key;
  if ((*device)->parent) {
    auto gateway = store_.find_device(*(*device)->parent);
    if (!gateway) return problem_from(gateway.error());
    signer = *(*device)->parent;
    public_key = *gateway ? (*gateway)->public_key : "";
  }
  return json_reply(200, {{"device_id", (*device)->id},
                          {"signed_by", signer},
                          {"public_key", public_key},
                          {"counter", (*report)->counter},
                          {"body", (*report)->body},
                          {"signature", (*report)->signature},
                          {"digest", (*report)->digest},
                          {"received_at", (*device)->inventory_at ? common::Json(*(*device)->inventory_at) : common::Json(nullptr)}});
}

http::Response ServerApp::change_device_status(const std::string& id, const std::string& status, const Caller& caller) {
  auto device = store_.find_device(id);
  if (!device) return problem_from(device.error());
  if (!*device) return problem(404, "no such device");
  if ((*device)->status == "decommissioned") return problem(409, "the device was decommissioned; it must enroll anew");
  std::string action = status == "accepted" ? "device.accept" : status == "rejected" ? "device.reject" : "device.decommission";
  auto ok = store_.set_device_status(id, status, caller.audit(action, "device:" + id, "ok", {{"from", (*device)->status}}));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", id}, {"status", status}});
}

http::Response ServerApp::accept_device(http::Request&, const Params& params, const Caller& caller) {
  return change_device_status(params[0], "accepted", caller);
}
http::Response ServerApp::reject_device(http::Request&, const Params& params, const Caller& caller) {
  return change_device_status(params[0], "rejected", caller);
}
http::Response ServerApp::decommission_device(http::Request&, const Params& params, const Caller& caller) {
  return change_device_status(params[0], "decommissioned", caller);
}

// The labels object of a request body, checked; kMaxLabels plain names
// with short string values.
static std::optional<http::Response> check_labels(const common::JsonObject& labels) {
  if (labels.json().size() > kMaxLabels) return problem(400, "too many labels", {{labels.pointer(), "at most 64"}});
  for (const auto& [key, value] : labels.json().items()) {
    if (!artifacts::is_safe_name(key, 64) || !value.is_string() || value.get_ref<const std::string&>().size() > 256) {
      return problem(400, "invalid label", {{labels.pointer_to(key), "labels are plain names with string values of at most 256 bytes"}});
    }
  }
  return std::nullopt;
}

http::Response ServerApp::create_ddi_device(http::Request& request, const Params&, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"controller_id", "device_type", "labels"}); !ok) return problem_from(ok.error());
  auto controller_id = body->string("controller_id", 128);
  if (!controller_id) return problem_from(controller_id.error());
  if (!ddi::is_controller_id(*controller_id)) {
    return problem(400, "invalid controller id", {{"/controller_id", "must match [A-Za-z0-9._:@-]{1,128}"}});
  }
  auto device_type = body->string("device_type", 64);
  if (!device_type) return problem_from(device_type.error());
  if (!artifacts::is_safe_name(*device_type, 64)) return problem(400, "invalid device type", {{"/device_type", "must match [A-Za-z0-9._-]{1,64}"}});
  common::Json labels = common::Json::object();
  if (body->has("labels")) {
    auto given = body->object("labels");
    if (!given) return problem_from(given.error());
    if (auto bad = check_labels(*given)) return *bad;
    labels = given->json();
  }
  DeviceRecord device{.id = ddi::device_id_for(*controller_id), .device_type = *device_type,
                      .identity_json = common::Json{{"controller_id", *controller_id}}.dump(), .labels_json = labels.dump()};
  // The token is shown once; the store keeps its hash.
  std::string secret = "ddi_" + common::to_hex(signing::random_bytes(24));
  auto stored = store_.create_ddi_device(
      device, token_hash(secret), common::format_rfc3339(clock_()),
      caller.audit("device.create", "device:" + device.id, "ok",
                   {{"protocol", "ddi"}, {"controller_id", *controller_id}, {"device_type", *device_type}, {"labels", labels}}));
  if (!stored) {
    if (stored.error().is(common::Errc::kConflict)) return problem(409, "controller id " + *controller_id + " is registered already");
    return problem_from(stored.error());
  }
  return json_reply(201, {{"device_id", stored->id}, {"controller_id", *controller_id}, {"device_type", *device_type},
                          {"protocol", "ddi"}, {"target_token", secret}});
}

http::Response ServerApp::label_device(http::Request& request, const Params& params, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"labels"}); !ok) return problem_from(ok.error());
  auto labels = body->object("labels");
  if (!labels) return problem_from(labels.error());
  if (auto bad = check_labels(*labels)) return *bad;
  auto ok = store_.set_device_labels(params[0], labels->json().dump(),
                                     caller.audit("device.label", "device:" + params[0], "ok", {{"labels", labels->json()}}));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", params[0]}, {"labels", labels->json()}});
}

}  // namespace flotilla::server::api
