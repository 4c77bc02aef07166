// Commands for the fleet: devices, enrollment tokens, deployments.
#include <cctype>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/table.hpp"

namespace flotilla::cli {

namespace {

void print_devices(const common::Json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["devices"]) {
    std::string labels;
    for (const auto& [k, v] : d["labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    // A child names its gateway (ORPHANED when that was decommissioned);
    // a gateway says it is one.
    std::string gateway = d.value("gateway", false) ? "(gateway)" : "-";
    if (d.contains("parent") && d["parent"].is_string()) {
      gateway = d["parent"].get<std::string>().substr(0, 16) + (d.value("orphaned", false) ? " ORPHANED" : "");
    }
    rows.push_back({json_text(d, "id").substr(0, 16), json_text(d, "device_type"), json_text(d, "status"), d["identity"].dump(),
                    labels.empty() ? "-" : labels, d.value("protocol", "flotilla"), gateway, json_text(d, "last_seen"),
                    d.value("tampered", false) ? "TAMPERED" : ""});
  }
  print_table(std::cout, {"ID", "TYPE", "STATUS", "IDENTITY", "LABELS", "PROTOCOL", "GATEWAY", "LAST SEEN", ""}, rows);
}

// KEY=VALUE arguments as a JSON object, or what is wrong with one.
std::expected<common::Json, std::string> parse_labels(const std::vector<std::string>& pairs) {
  common::Json labels = common::Json::object();
  for (const auto& kv : pairs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return std::unexpected("labels are KEY=VALUE, got \"" + kv + "\"");
    labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return labels;
}

}  // namespace

void add_fleet_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  // devices
  auto* devices = app.add_subcommand("devices", "Devices: list, show, accept, reject, label, decommission, create-ddi, gateway, move");
  devices->require_subcommand(1);
  struct DeviceOptions {
    std::string id, type, status, label, seen_before, seen_after, baseline, protocol, parent;
    std::vector<std::string> labels;
    int limit = 100;
  };
  auto d = std::make_shared<DeviceOptions>();
  auto* list = devices->add_subcommand("list", "List devices, with filters");
  list->add_option("--type", d->type, "Device type");
  list->add_option("--status", d->status, "pending, accepted, rejected or decommissioned");
  list->add_option("--label", d->label, "KEY=VALUE");
  list->add_option("--seen-before", d->seen_before, "Not seen since this RFC 3339 time");
  list->add_option("--seen-after", d->seen_after, "Seen since this RFC 3339 time");
  list->add_option("--protocol", d->protocol,
                   "How devices talk to the server: flotilla (the agent), ddi (hawkBit clients) or child (through a gateway)")
      ->check(CLI::IsMember({"flotilla", "ddi", "child"}));
  list->add_option("--parent", d->parent, "The children of this gateway (its device id)");
  list->add_option("--limit", d->limit, "At most this many (1-10000)")->check(CLI::Range(1, 10000));
  on_run(*list, exit_code, [&server, d] {
    std::string query = "?limit=" + std::to_string(d->limit);
    for (auto [key, value] : {std::pair{"type", &d->type}, std::pair{"status", &d->status}, std::pair{"label", &d->label},
                              std::pair{"seen_before", &d->seen_before}, std::pair{"seen_after", &d->seen_after},
                              std::pair{"protocol", &d->protocol}, std::pair{"parent", &d->parent}}) {
      if (!value->empty()) query += std::string("&") + key + "=" + url_encode(*value);
    }
    return call(server, "GET", "/api/v1/devices" + query, "", print_devices);
  });
  auto* show = devices->add_subcommand("show", "Show a device: identity, inventory, deployments, compliance status");
  show->add_option("ID", d->id, "Device id")->required();
  show->add_option("--baseline", d->baseline, "Judge compliance against this baseline (default: the highest published release)");
  on_run(*show, exit_code, [&server, d] {
    std::string query = d->baseline.empty() ? "" : "?baseline=" + url_encode(d->baseline);
    return call(server, "GET", "/api/v1/devices/" + url_encode(d->id) + query, "",
                [](const common::Json& j) { std::cout << j.dump(2) << "\n"; });
  });
  for (auto [name, verb, help] : {std::tuple{"accept", "accept", "Accept a pending device"},
                                  std::tuple{"reject", "reject", "Reject a device"},
                                  std::tuple{"decommission", "decommission", "Retire a device and revoke its tokens"}}) {
    auto* command = devices->add_subcommand(name, help);
    command->add_option("ID", d->id, "Device id")->required();
    on_run(*command, exit_code, [&server, d, verb = std::string(verb)] {
      return call(server, "POST", "/api/v1/devices/" + url_encode(d->id) + "/" + verb, "",
                  [](const common::Json& j) { std::cout << json_text(j, "id") << " is now " << json_text(j, "status") << "\n"; });
    });
  }
  auto* label = devices->add_subcommand("label", "Replace a device's labels");
  label->add_option("ID", d->id, "Device id")->required();
  label->add_option("LABEL", d->labels, "KEY=VALUE (none: clear all)");
  on_run(*label, exit_code, [&server, d] {
    auto labels = parse_labels(d->labels);
    if (!labels) return report_usage(labels.error());
    return call(server, "PUT", "/api/v1/devices/" + url_encode(d->id) + "/labels", common::Json{{"labels", *labels}}.dump(),
                [](const common::Json& j) { std::cout << "labels of " << json_text(j, "id") << ": " << j["labels"].dump() << "\n"; });
  });

  auto* create_ddi = devices->add_subcommand(
      "create-ddi",
      "Register a device that runs a hawkBit DDI client (SWUpdate, rauc-hawkbit-updater); prints JSON with its "
      "target token, once (docs/ddi.md)");
  create_ddi->add_option("--controller-id", d->id, "The client's controller id, [A-Za-z0-9._:@-]{1,128}")->required();
  create_ddi->add_option("--device-type", d->type, "Device type, as bundles name it in compatible")->required();
  create_ddi->add_option("--label", d->labels, "KEY=VALUE (repeatable)");
  on_run(*create_ddi, exit_code, [&server, d] {
    auto labels = parse_labels(d->labels);
    if (!labels) return report_usage(labels.error());
    common::Json body = {{"controller_id", d->id}, {"device_type", d->type}, {"labels", *labels}};
    return call(server, "POST", "/api/v1/devices/ddi", body.dump(), [](const common::Json& j) { std::cout << j.dump(2) << "\n"; });
  });

  add_gateway_commands(*devices, exit_code, server);

  // hawkBit DDI
  auto* ddi = app.add_subcommand("ddi", "Devices that speak hawkBit DDI: the tenant's gateway token (docs/ddi.md)");
  ddi->require_subcommand(1);
  auto* gateway = ddi->add_subcommand("gateway-token", "The gateway token, with which unknown controllers appear as pending devices");
  gateway->require_subcommand(1);
  auto gateway_type = std::make_shared<std::string>();
  auto* gateway_create = gateway->add_subcommand("create", "Create the gateway token (replacing the one there was); printed once, as JSON");
  gateway_create->add_option("--device-type", *gateway_type, "Device type of the controllers it registers")->required();
  on_run(*gateway_create, exit_code, [&server, gateway_type] {
    return call(server, "POST", "/api/v1/ddi/gateway-token", common::Json{{"device_type", *gateway_type}}.dump(),
                [](const common::Json& j) { std::cout << j.dump(2) << "\n"; });
  });
  auto* gateway_revoke = gateway->add_subcommand("revoke", "Revoke the gateway token; devices it registered keep their status");
  on_run(*gateway_revoke, exit_code, [&server] {
    return call(server, "DELETE", "/api/v1/ddi/gateway-token", "", [](const common::Json&) { std::cout << "gateway token revoked\n"; });
  });

  // enrollment tokens
  auto* enrollment = app.add_subcommand("enrollment-tokens", "Tokens devices enroll with: create, list, revoke");
  enrollment->require_subcommand(1);
  struct EnrollmentOptions {
    std::string name, expires, id;
    std::vector<std::string> types;
    int uses = 1;
    bool gateway = false;
  };
  auto e = std::make_shared<EnrollmentOptions>();
  auto* create = enrollment->add_subcommand("create", "Create an enrollment token; its secret is printed once");
  create->add_option("--name", e->name, "A name for people")->required();
  create->add_option("--device-type", e->types, "Device type it may enroll (repeatable)")->required();
  create->add_option("--max-uses", e->uses, "How many devices may use it")->check(CLI::Range(1, 1000000))->capture_default_str();
  create->add_option("--expires", e->expires, "RFC 3339 expiry")->required();
  create->add_flag("--gateway", e->gateway, "Devices it enrolls may speak for child devices (field gateways, docs/gateway.md)");
  on_run(*create, exit_code, [&server, e] {
    common::Json body = {{"name", e->name}, {"device_types", e->types}, {"max_uses", e->uses}, {"expires_at", e->expires},
                         {"gateway", e->gateway}};
    return call(server, "POST", "/api/v1/enrollment-tokens", body.dump(), [](const common::Json& j) {
      std::cout << "enrollment token " << json_text(j, "id") << " (" << json_text(j, "name") << "):\n" << json_text(j, "token")
                << "\n(shown once: put it in the devices' enrollment_token_file)\n";
    });
  });
  auto* enrollment_list = enrollment->add_subcommand("list", "List enrollment tokens (never their secrets)");
  on_run(*enrollment_list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/enrollment-tokens", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& t : j["enrollment_tokens"]) {
        rows.push_back({json_text(t, "id"), json_text(t, "name"), t["device_types"].dump(), json_text(t, "uses") + "/" + json_text(t, "max_uses"),
                        json_text(t, "expires_at"), t.value("gateway", false) ? "yes" : "no",
                        t.value("revoked", false) ? "revoked" : "active"});
      }
      print_table(std::cout, {"ID", "NAME", "TYPES", "USES", "EXPIRES", "GATEWAY", "STATE"}, rows);
    });
  });
  auto* revoke = enrollment->add_subcommand("revoke", "Revoke an enrollment token");
  revoke->add_option("ID", e->id, "Token id")->required();
  on_run(*revoke, exit_code, [&server, e] {
    return call(server, "DELETE", "/api/v1/enrollment-tokens/" + url_encode(e->id), "",
                [e](const common::Json&) { std::cout << "revoked enrollment token " << e->id << "\n"; });
  });

  // deployments
  auto* deployments = app.add_subcommand("deployments", "Direct deployments of a bundle to devices: create, list, show");
  deployments->require_subcommand(1);
  struct DeploymentOptions {
    std::string bundle, deadline, id;
    std::vector<std::string> devices;
    bool allow_downgrade = false;
  };
  auto p = std::make_shared<DeploymentOptions>();
  auto* deploy = deployments->add_subcommand("create", "Deploy a bundle to listed devices");
  deploy->add_option("--bundle", p->bundle, "Bundle file digest or bundle id")->required();
  deploy->add_option("--device", p->devices, "Device id (repeatable)")->required();
  deploy->add_flag("--allow-downgrade", p->allow_downgrade, "Allow a lower version (never a lower security version)");
  deploy->add_option("--deadline", p->deadline, "RFC 3339 deadline");
  on_run(*deploy, exit_code, [&server, p] {
    common::Json body = {{"bundle", p->bundle}, {"devices", p->devices}, {"allow_downgrade", p->allow_downgrade}};
    if (!p->deadline.empty()) body["deadline"] = p->deadline;
    return call(server, "POST", "/api/v1/deployments", body.dump(), [](const common::Json& j) {
      std::cout << "deployment " << json_text(j, "id") << " created for " << json_text(j, "devices") << " device(s)\n";
    });
  });
  auto* deployment_list = deployments->add_subcommand("list", "List deployments, newest first");
  on_run(*deployment_list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/deployments", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& x : j["deployments"]) {
        rows.push_back({json_text(x, "id"), json_text(x, "component"), json_text(x, "bundle").substr(0, 16), json_text(x, "created_by"), json_text(x, "created_at")});
      }
      print_table(std::cout, {"ID", "COMPONENT", "BUNDLE", "BY", "CREATED"}, rows);
    });
  });
  auto device_id = std::make_shared<std::string>();
  auto* deployment_events = deployments->add_subcommand("events", "A device's signed events in a deployment");
  deployment_events->add_option("ID", p->id, "Deployment id")->required();
  deployment_events->add_option("DEVICE", *device_id, "Device id")->required();
  on_run(*deployment_events, exit_code, [&server, p, device_id] {
    return call(server, "GET", "/api/v1/deployments/" + url_encode(p->id) + "/devices/" + url_encode(*device_id) + "/events", "",
                [](const common::Json& j) {
                  std::vector<std::vector<std::string>> rows;
                  for (const auto& event : j["events"]) {
                    rows.push_back({json_text(event, "seq"), json_text(event, "time"), json_text(event, "state"), json_text(event, "progress"), json_text(event, "message")});
                  }
                  print_table(std::cout, {"SEQ", "TIME", "STATE", "PROGRESS", "MESSAGE"}, rows);
                });
  });
  auto* deployment_show = deployments->add_subcommand("show", "Show a deployment with each device's state");
  deployment_show->add_option("ID", p->id, "Deployment id")->required();
  on_run(*deployment_show, exit_code, [&server, p] {
    return call(server, "GET", "/api/v1/deployments/" + url_encode(p->id), "", [](const common::Json& j) {
      std::cout << "deployment " << json_text(j, "id") << " of " << json_text(j, "bundle") << " (" << json_text(j, "component") << ")\n"
                << "counts " << j["counts"].dump() << "\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& m : j["devices"]) {
        rows.push_back({json_text(m, "device_id").substr(0, 16), json_text(m, "state"), json_text(m, "progress"), json_text(m, "running_version"),
                        json_text(m, "updated_at"), json_text(m, "message")});
      }
      print_table(std::cout, {"DEVICE", "STATE", "PROGRESS", "RUNNING", "UPDATED", "MESSAGE"}, rows);
    });
  });
}

}  // namespace flotilla::cli
