#include "server/compliance/rules.hpp"

#include "server/errors.hpp"

namespace flotilla::server::compliance {

common::Result<Rules> Rules::load(Store& store, const std::optional<std::string>& baseline_name) {
  Rules rules;
  if (baseline_name) {
    auto record = store.find_baseline(*baseline_name);
    if (!record) return std::unexpected(record.error());
    if (!*record) return common::fail(common::Errc::kNotFound, "no baseline named " + *baseline_name);
    auto document = common::parse_json_strict((*record)->document);
    if (!document) return common::propagate(document, "the stored baseline " + *baseline_name);
    auto parsed = policy::parse_baseline(*document);
    if (!parsed) return common::fail(common::Errc::kBadField, "the stored baseline " + *baseline_name + " no longer validates");
    rules.max_staleness_ = parsed->max_staleness;
    rules.description_ = {{"name", parsed->name}, {"document", *document}, {"updated_at", (*record)->updated_at}};
    rules.baseline_ = std::move(*parsed);
    return rules;
  }
  auto bundles = store.list_bundles();
  if (!bundles) return std::unexpected(bundles.error());
  for (const auto& b : *bundles) {
    auto manifest = common::Json::parse(b.manifest_json, nullptr, false);
    auto version = common::Version::parse(b.version);
    if (!version || !manifest.is_object() || !manifest.contains("compatible") || !manifest["compatible"].is_array()) continue;
    std::vector<std::string> compatible;
    for (const auto& type : manifest["compatible"]) {
      if (type.is_string()) compatible.push_back(type.get<std::string>());
    }
    rules.published_.push_back({b.component, *version, std::move(compatible)});
  }
  rules.description_ = {{"name", nullptr},
                        {"rule", "the highest published release compatible with the device type, per component"}};
  return rules;
}

const std::vector<policy::Requirement>& Rules::requirements_for(const std::string& device_type) {
  auto it = by_type_.find(device_type);
  if (it == by_type_.end()) {
    auto requirements = baseline_ ? policy::requirements_for(*baseline_, device_type)
                                  : policy::default_requirements(published_, device_type);
    it = by_type_.emplace(device_type, std::move(requirements)).first;
  }
  return it->second;
}

policy::DeviceEvidence evidence_of(const ComplianceDevice& d) {
  policy::DeviceEvidence e{.tampered = d.tampered, .reported = d.reported};
  if (d.last_seen) {
    if (auto seen = common::parse_rfc3339(*d.last_seen)) e.last_seen = *seen;
  }
  for (const auto& c : d.components) {
    if (auto version = common::Version::parse(c.version)) e.installed.insert_or_assign(c.name, policy::InstalledVersion{*version, c.security_version});
  }
  for (const auto& attempt : d.latest_attempts) {
    if (attempt.active) {
      e.pending.insert(attempt.component);
    } else {
      e.last_result.insert_or_assign(attempt.component, attempt.state);
    }
  }
  return e;
}

policy::DeviceVerdict verdict_of(const ComplianceDevice& device, Rules& rules, common::TimePoint now) {
  return policy::evaluate_compliance(rules.requirements_for(device.device_type), evidence_of(device),
                                     rules.max_staleness(), now);
}

}  // namespace flotilla::server::compliance
