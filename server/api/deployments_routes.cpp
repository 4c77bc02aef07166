// Operator side: direct deployments (a bundle to listed devices). The
// rollout engine creates deployments through the same store calls.
#include <algorithm>
#include <map>
#include <set>

#include "server/api/app.hpp"
#include "server/api/reply.hpp"

namespace flotilla::server::api {
namespace {

constexpr std::size_t kMaxDeploymentDevices = 10000;

common::Json deployment_json(const DeploymentRecord& d) {
  return {{"id", d.id},
          {"bundle", d.bundle},
          {"component", d.component},
          {"allow_downgrade", d.allow_downgrade},
          {"deadline", d.deadline ? common::Json(*d.deadline) : common::Json(nullptr)},
          {"created_by", d.created_by},
          {"created_at", d.created_at}};
}

}  // namespace

http::Response ServerApp::create_deployment(http::Request& request, const Params&, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"bundle", "devices", "allow_downgrade", "deadline"}); !ok) return problem_from(ok.error());
  auto bundle_key = body->string("bundle", 64);
  if (!bundle_key) return problem_from(bundle_key.error());
  auto bundle = store_.find_bundle(*bundle_key);
  if (!bundle) return problem_from(bundle.error());
  if (!*bundle) return problem(422, "no such bundle", {{"/bundle", "names no uploaded bundle"}});
  auto manifest = common::Json::parse((*bundle)->manifest_json, nullptr, false);
  auto devices = body->array("devices", kMaxDeploymentDevices);
  if (!devices) return problem_from(devices.error());
  if ((*devices)->empty()) return problem(400, "no devices", {{"/devices", "must list at least one device"}});

  DeploymentRecord deployment{.bundle = (*bundle)->file_sha256, .component = (*bundle)->component,
                              .created_by = caller.actor, .created_at = common::format_rfc3339(clock_())};
  if (body->has("allow_downgrade")) {
    if (!doc["allow_downgrade"].is_boolean()) return problem(400, "invalid flag", {{"/allow_downgrade", "must be true or false"}});
    deployment.allow_downgrade = doc["allow_downgrade"].get<bool>();
  }
  if (body->has("deadline")) {
    auto text = body->string("deadline", 64);
    if (!text) return problem_from(text.error());
    auto when = common::parse_rfc3339(*text);
    if (!when) return problem(400, "invalid deadline", {{"/deadline", when.error().message()}});
    deployment.deadline = common::format_rfc3339(*when);
  }
  // Every device must exist, be accepted and be of a compatible type; all
  // problems are reported at once.
  std::vector<FieldError> errors;
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < (*devices)->size(); ++i) {
    std::string where = common::pointer_join("/devices", i);
    const auto& id = (**devices)[i];
    if (!id.is_string() || id.get_ref<const std::string&>().size() > 128) {
      errors.push_back({where, "must be a device id"});
      continue;
    }
    if (!seen.insert(id.get<std::string>()).second) {
      errors.push_back({where, "is listed twice"});
      continue;
    }
    auto device = store_.find_device(id.get<std::string>());
    if (!device) return problem_from(device.error());
    if (!*device) {
      errors.push_back({where, "no such device"});
    } else if ((*device)->status != "accepted") {
      errors.push_back({where, "the device is " + (*device)->status});
    } else if (!manifest.contains("compatible") ||
               std::find(manifest["compatible"].begin(), manifest["compatible"].end(), (*device)->device_type) ==
                   manifest["compatible"].end()) {
      errors.push_back({where, "the bundle is not compatible with device type " + (*device)->device_type});
    } else {
      ids.push_back(id.get<std::string>());
    }
  }
  if (!errors.empty()) return problem(422, "some devices cannot take this deployment", errors);
  auto id = store_.create_deployment(deployment, ids,
                                     caller.audit("deployment.create", "bundle:" + deployment.bundle, "ok",
                                      {{"devices", ids.size()}, {"name", (*bundle)->name}, {"version", (*bundle)->version}}));
  if (!id) return problem_from(id.error());
  deployment.id = *id;
  auto out = deployment_json(deployment);
  out["devices"] = ids.size();
  return json_reply(201, out);
}

http::Response ServerApp::list_deployments(http::Request&, const Params&, const Caller&) {
  auto deployments = store_.list_deployments(1000);
  if (!deployments) return problem_from(deployments.error());
  common::Json out = common::Json::array();
  for (const auto& d : *deployments) out.push_back(deployment_json(d));
  return json_reply(200, {{"deployments", out}});
}

http::Response ServerApp::show_deployment(http::Request&, const Params& params, const Caller&) {
  auto parsed_id = parse_positive(params[0]);
  if (!parsed_id) return problem(400, "a deployment id is a positive integer");
  std::int64_t id = *parsed_id;
  auto deployment = store_.find_deployment(id);
  if (!deployment) return problem_from(deployment.error());
  if (!*deployment) return problem(404, "no such deployment");
  auto members = store_.deployment_devices(id);
  if (!members) return problem_from(members.error());
  auto out = deployment_json(**deployment);
  std::map<std::string, int> counts;
  std::int64_t interruptions = 0, interrupted_devices = 0;
  out["devices"] = common::Json::array();
  for (const auto& m : *members) {
    ++counts[m.state];
    interruptions += m.interruptions;
    interrupted_devices += m.interruptions > 0 ? 1 : 0;
    out["devices"].push_back({{"device_id", m.device_id}, {"state", m.state}, {"progress", m.progress}, {"message", m.message},
                              {"running_version", m.running_version ? common::Json(*m.running_version) : common::Json(nullptr)},
                              {"updated_at", m.updated_at}, {"interruptions", m.interruptions}});
  }
  out["counts"] = counts;
  // Attempts cut short and taken again: apart from the states, never failures.
  out["interruptions"] = {{"devices", interrupted_devices}, {"total", interruptions}};
  return json_reply(200, out);
}

http::Response ServerApp::device_events(http::Request&, const Params& params, const Caller&) {
  auto parsed_id = parse_positive(params[0]);
  if (!parsed_id) return problem(400, "a deployment id is a positive integer");
  std::int64_t id = *parsed_id;
  auto events = store_.deployment_events(id, params[1]);
  if (!events) return problem_from(events.error());
  common::Json out = common::Json::array();
  for (const auto& e : *events) {
    // The signed body and signature travel with each event: evidence of
    // what the device itself reported.
    out.push_back({{"seq", e.seq}, {"state", e.state}, {"progress", e.progress}, {"message", e.message}, {"time", e.time},
                   {"body", e.body}, {"signature", e.signature}});
  }
  return json_reply(200, {{"deployment_id", id}, {"device_id", params[1]}, {"events", out}});
}

}  // namespace flotilla::server::api
