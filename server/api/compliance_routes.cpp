// GET /api/v1/compliance: each accepted device's status (DESIGN.md §9)
// against a baseline or, without one, the highest published release for
// its type — computed by policy::evaluate_compliance from the device's
// last signed inventory and its deployments. JSON or CSV (RFC 4180).
#include <map>
#include <sstream>

#include "policy/compliance.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"

namespace flotilla::server::api {
namespace {

constexpr std::int64_t kPage = 1000;

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

policy::DeviceEvidence evidence_of(const DeviceRecord& d, Store& store,
                                   std::map<std::int64_t, std::optional<DeploymentRecord>>& deployments) {
  policy::DeviceEvidence e{.tampered = d.tampered, .reported = d.inventory.has_value()};
  if (d.last_seen) {
    if (auto seen = common::parse_rfc3339(*d.last_seen)) e.last_seen = *seen;
  }
  if (d.inventory) {
    auto report = common::Json::parse(*d.inventory, nullptr, false);
    if (report.is_object() && report.contains("components") && report["components"].is_object()) {
      for (const auto& [name, c] : report["components"].items()) {
        auto version = common::Version::parse(c.value("version", ""));
        if (version) e.installed[name] = {*version, c.value("security_version", std::int64_t{0})};
      }
    }
  }
  auto rows = store.device_deployments(d.id);
  if (rows) {
    // Newest first: the first row per component is its latest attempt.
    for (const auto& row : *rows) {
      auto& deployment = deployments[row.deployment_id];
      if (!deployment) {
        auto found = store.find_deployment(row.deployment_id);
        if (found && *found) deployment = **found;
      }
      if (!deployment) continue;
      if (row.active) e.pending.insert(deployment->component);
      e.last_result.emplace(deployment->component, row.state);
    }
  }
  // The latest attempt of a component still running is pending, not a result.
  for (const auto& component : e.pending) e.last_result.erase(component);
  return e;
}

}  // namespace

http::Response ServerApp::compliance(http::Request& request, const Params&, const Caller&) {
  auto query = [&](const char* key) -> std::optional<std::string> {
    auto it = request.query.find(key);
    if (it == request.query.end()) return std::nullopt;
    return it->second;
  };
  std::string format = query("format").value_or("json");
  if (format != "json" && format != "csv") return problem(400, "invalid query", {{"format", "must be json or csv"}});
  std::optional<policy::Baseline> baseline;
  if (auto name = query("baseline")) {
    auto record = store_.find_baseline(*name);
    if (!record) return problem_from(record.error());
    if (!*record) return problem(404, "no such baseline");
    auto doc = common::parse_json_strict((*record)->document);
    auto parsed = doc ? policy::parse_baseline(*doc) : std::unexpected(policy::PolicyErrors{});
    if (!parsed) return problem(500, "the stored baseline cannot be read; see the server log");
    baseline = std::move(*parsed);
  }
  std::vector<policy::PublishedBundle> published;
  if (!baseline) {
    auto bundles = store_.list_bundles();
    if (!bundles) return problem_from(bundles.error());
    for (const auto& b : *bundles) {
      auto manifest = common::Json::parse(b.manifest_json, nullptr, false);
      auto version = common::Version::parse(b.version);
      if (!version || !manifest.contains("compatible")) continue;
      published.push_back({b.component, *version, manifest["compatible"].get<std::vector<std::string>>()});
    }
  }
  auto staleness = baseline ? baseline->max_staleness : std::chrono::seconds(48 * 3600);
  auto status_filter = query("status");
  auto now = clock_();

  common::Json rows = common::Json::array();
  std::map<std::string, std::int64_t> by_status;
  std::map<std::string, std::map<std::string, std::int64_t>> by_type;
  std::map<std::int64_t, std::optional<DeploymentRecord>> deployments;
  std::ostringstream csv;
  csv << "device_id,device_type,labels,component,installed_version,installed_security_version,required_version,"
         "required_security_version,status,reason,last_seen,deadline,report_counter,report_digest\r\n";
  for (std::int64_t offset = 0;; offset += kPage) {
    DeviceFilter filter{.device_type = query("type"), .status = "accepted", .limit = kPage, .offset = offset};
    auto devices = store_.list_devices(filter);
    if (!devices) return problem_from(devices.error());
    for (const auto& d : *devices) {
      auto requirements = baseline ? policy::requirements_for(*baseline, d.device_type)
                                   : policy::default_requirements(published, d.device_type);
      auto evidence = evidence_of(d, store_, deployments);
      auto verdict = policy::evaluate_compliance(requirements, evidence, staleness, now);
      std::string status(policy::status_name(verdict.status));
      if (status_filter && *status_filter != status) continue;
      ++by_status[status];
      ++by_type[d.device_type][status];
      auto labels = common::Json::parse(d.labels_json, nullptr, false);
      for (std::size_t i = 0; i < std::max<std::size_t>(1, requirements.size()); ++i) {
        const policy::Requirement* r = i < requirements.size() ? &requirements[i] : nullptr;
        const policy::ComponentVerdict* c = i < verdict.components.size() ? &verdict.components[i] : nullptr;
        std::string component = r ? r->component : "";
        auto installed = evidence.installed.find(component);
        common::Json row = {{"device_id", d.id},
                            {"device_type", d.device_type},
                            {"labels", labels},
                            {"component", component},
                            {"status", c ? std::string(policy::status_name(c->status)) : status},
                            {"device_status", status},
                            {"reason", c ? c->reason : ""},
                            {"last_seen", d.last_seen ? common::Json(*d.last_seen) : common::Json(nullptr)},
                            {"report_counter", d.report_counter},
                            {"report_digest", d.inventory_digest ? common::Json(*d.inventory_digest) : common::Json(nullptr)}};
        row["installed_version"] = installed != evidence.installed.end() ? common::Json(installed->second.version.text()) : nullptr;
        row["installed_security_version"] =
            installed != evidence.installed.end() ? common::Json(installed->second.security_version) : nullptr;
        row["required_version"] = r && r->min_version ? common::Json(r->min_version->text()) : nullptr;
        row["required_security_version"] = r && r->min_security_version ? common::Json(*r->min_security_version) : nullptr;
        row["deadline"] = r && r->deadline ? common::Json(common::format_rfc3339(*r->deadline)) : nullptr;
        if (format == "csv") {
          auto text = [&](const char* key) {
            const auto& v = row[key];
            return v.is_null() ? std::string() : v.is_string() ? v.get<std::string>() : v.dump();
          };
          csv << csv_field(text("device_id")) << ',' << csv_field(text("device_type")) << ',' << csv_field(labels.dump()) << ','
              << csv_field(component) << ',' << csv_field(text("installed_version")) << ','
              << text("installed_security_version") << ',' << csv_field(text("required_version")) << ','
              << text("required_security_version") << ',' << text("status") << ',' << csv_field(text("reason")) << ','
              << text("last_seen") << ',' << text("deadline") << ',' << text("report_counter") << ','
              << text("report_digest") << "\r\n";
        } else {
          rows.push_back(std::move(row));
        }
      }
    }
    if (static_cast<std::int64_t>(devices->size()) < kPage) break;
  }
  if (format == "csv") {
    http::Response response;
    response.headers["Content-Type"] = "text/csv; charset=utf-8";
    response.body = csv.str();
    return response;
  }
  std::int64_t total = 0;
  for (const auto& [status, n] : by_status) total += n;
  return json_reply(200, {{"generated_at", common::format_rfc3339(now)},
                          {"baseline", baseline ? common::Json(baseline->name) : common::Json(nullptr)},
                          {"summary", {{"devices", total}, {"by_status", by_status}, {"by_device_type", by_type}}},
                          {"rows", rows}});
}

}  // namespace flotilla::server::api
