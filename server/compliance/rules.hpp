// What compliance is judged against (DESIGN.md §9): a named baseline, or
// without one the default rule (the highest published release compatible
// with the device type, per component). Loaded once per report.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "policy/compliance.hpp"
#include "server/store/store.hpp"

namespace flotilla::server::compliance {

class Rules {
 public:
  // kNotFound when the named baseline does not exist.
  static common::Result<Rules> load(Store& store, const std::optional<std::string>& baseline_name);

  // Requirements for a device type, computed once per type.
  const std::vector<policy::Requirement>& requirements_for(const std::string& device_type);
  std::chrono::seconds max_staleness() const { return max_staleness_; }
  // For the report: {"name", "document"} of the baseline, or the default rule named.
  const common::Json& description() const { return description_; }

 private:
  std::optional<policy::Baseline> baseline_;
  std::vector<policy::PublishedBundle> published_;
  std::chrono::seconds max_staleness_{48 * 3600};
  common::Json description_;
  std::map<std::string, std::vector<policy::Requirement>, std::less<>> by_type_;
};

// The device's evidence in the form the status function takes. Installed
// versions come from its last signed inventory; an active deployment makes
// its component pending; the latest finished attempt is its last result.
policy::DeviceEvidence evidence_of(const ComplianceDevice& device);

// The device's verdict, from the one status function every view uses
// (`devices show`, the rollout view, reports).
policy::DeviceVerdict verdict_of(const ComplianceDevice& device, Rules& rules, common::TimePoint now);

}  // namespace flotilla::server::compliance
