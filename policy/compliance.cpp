#include "policy/compliance.hpp"

#include <algorithm>

namespace flotilla::policy {

std::string_view status_name(ComplianceStatus status) {
  switch (status) {
    case ComplianceStatus::kCompliant: return "compliant";
    case ComplianceStatus::kOutdated: return "outdated";
    case ComplianceStatus::kOverdue: return "overdue";
    case ComplianceStatus::kFailed: return "failed";
    case ComplianceStatus::kPending: return "pending";
    case ComplianceStatus::kUnknown: return "unknown";
    case ComplianceStatus::kStale: return "stale";
    case ComplianceStatus::kTampered: return "tampered";
  }
  return "unknown";
}

std::optional<ComplianceStatus> parse_status(std::string_view name) {
  for (auto status : kAllStatuses) {
    if (status_name(status) == name) return status;
  }
  return std::nullopt;
}

std::vector<Requirement> requirements_for(const Baseline& baseline, std::string_view device_type) {
  std::vector<Requirement> out;
  for (const auto& rule : baseline.rules) {
    if (std::find(rule.device_types.begin(), rule.device_types.end(), device_type) == rule.device_types.end()) continue;
    out.push_back({rule.component, rule.min_version, rule.min_security_version, rule.deadline});
  }
  return out;
}

std::vector<Requirement> default_requirements(const std::vector<PublishedBundle>& bundles, std::string_view device_type) {
  std::map<std::string, common::Version> highest;
  for (const auto& b : bundles) {
    if (std::find(b.compatible.begin(), b.compatible.end(), device_type) == b.compatible.end()) continue;
    // A pre-release (2.5.0-rc.1) is for testing, not what everyone must run.
    if (b.version.text().find('-') != std::string::npos) continue;
    auto it = highest.find(b.component);
    if (it == highest.end() || it->second < b.version) highest.insert_or_assign(b.component, b.version);
  }
  std::vector<Requirement> out;
  for (auto& [component, version] : highest) out.push_back({component, std::move(version), std::nullopt, std::nullopt});
  return out;
}

namespace {

// What is wrong with the device as a whole, whatever it runs.
std::optional<ComponentVerdict> device_condition(const DeviceEvidence& d, std::chrono::seconds max_staleness,
                                                 common::TimePoint now) {
  if (d.tampered) return ComponentVerdict{"", ComplianceStatus::kTampered, "the device reported tampering"};
  if (!d.last_seen || now - *d.last_seen > max_staleness) {
    return ComponentVerdict{"", ComplianceStatus::kStale,
                            d.last_seen ? "not seen since " + common::format_rfc3339(*d.last_seen) : "never seen"};
  }
  if (!d.reported) return ComponentVerdict{"", ComplianceStatus::kUnknown, "no signed inventory report"};
  return std::nullopt;
}

ComponentVerdict judge(const Requirement& r, const DeviceEvidence& d, std::chrono::seconds max_staleness,
                       common::TimePoint now) {
  if (auto condition = device_condition(d, max_staleness, now)) {
    condition->component = r.component;
    return *condition;
  }
  ComponentVerdict v{r.component};
  auto set = [&](ComplianceStatus status, std::string reason) {
    v.status = status;
    v.reason = std::move(reason);
    return v;
  };
  if (d.pending.contains(r.component)) return set(ComplianceStatus::kPending, "an update is assigned or running");
  if (auto result = d.last_result.find(r.component);
      result != d.last_result.end() && result->second != "succeeded") {
    return set(ComplianceStatus::kFailed, "the last update " + result->second);
  }
  auto installed = d.installed.find(r.component);
  std::string shortfall;
  if (installed == d.installed.end()) {
    shortfall = "does not report " + r.component;
  } else if (r.min_version && installed->second.version < *r.min_version) {
    shortfall = "runs " + installed->second.version.text() + ", needs " + r.min_version->text();
  } else if (r.min_security_version && installed->second.security_version < *r.min_security_version) {
    shortfall = "security version " + std::to_string(installed->second.security_version) + ", needs " +
                std::to_string(*r.min_security_version);
  }
  if (shortfall.empty()) return set(ComplianceStatus::kCompliant, "");
  if (r.deadline && now >= *r.deadline) {
    return set(ComplianceStatus::kOverdue, shortfall + " (deadline " + common::format_rfc3339(*r.deadline) + " passed)");
  }
  return set(ComplianceStatus::kOutdated, shortfall);
}

}  // namespace

DeviceVerdict evaluate_compliance(const std::vector<Requirement>& requirements, const DeviceEvidence& device,
                                  std::chrono::seconds max_staleness, common::TimePoint now) {
  DeviceVerdict verdict;
  for (const auto& r : requirements) {
    verdict.components.push_back(judge(r, device, max_staleness, now));
    verdict.status = std::max(verdict.status, verdict.components.back().status);
  }
  if (requirements.empty()) {
    // Nothing required of this type: only what is wrong with the device itself counts.
    if (auto condition = device_condition(device, max_staleness, now)) {
      verdict.status = condition->status;
      verdict.reason = condition->reason;
    } else {
      verdict.reason = "nothing is required of this device type";
    }
  }
  return verdict;
}

}  // namespace flotilla::policy
