// Compliance status of a device (DESIGN.md §9), as a pure function of its
// evidence, the requirements for its type and the time — so `devices
// show`, the rollout view and every report export call this one function
// and cannot disagree.
//
// Per device and component: tampered > stale > unknown > pending > failed
// > overdue > outdated > compliant (the first that applies wins); the
// device's status is the highest of its components'.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/semver.hpp"
#include "common/time.hpp"
#include "policy/baseline.hpp"

namespace flotilla::policy {

enum class ComplianceStatus { kCompliant, kOutdated, kOverdue, kFailed, kPending, kUnknown, kStale, kTampered };
// Every status, least severe first.
inline constexpr ComplianceStatus kAllStatuses[] = {
    ComplianceStatus::kCompliant, ComplianceStatus::kOutdated, ComplianceStatus::kOverdue, ComplianceStatus::kFailed,
    ComplianceStatus::kPending,   ComplianceStatus::kUnknown,  ComplianceStatus::kStale,   ComplianceStatus::kTampered};
std::string_view status_name(ComplianceStatus status);
// The status a name stands for ("overdue"), for filters and report checks.
std::optional<ComplianceStatus> parse_status(std::string_view name);

// What a compliant device runs of one component.
struct Requirement {
  std::string component;
  std::optional<common::Version> min_version;
  std::optional<std::int64_t> min_security_version;
  std::optional<common::TimePoint> deadline;
};

// The rules of a baseline that cover a device type.
std::vector<Requirement> requirements_for(const Baseline& baseline, std::string_view device_type);

// Without a baseline (Azure Device Update's rule): the highest published
// version compatible with the type, per component; pre-releases do not
// count (they are for testing, not what every device must run).
struct PublishedBundle {
  std::string component;
  common::Version version;
  std::vector<std::string> compatible;
};
std::vector<Requirement> default_requirements(const std::vector<PublishedBundle>& bundles, std::string_view device_type);

struct InstalledVersion {
  common::Version version;
  std::int64_t security_version = 0;
};

// What the server knows of a device, all of it traceable to what the
// device signed (inventory) or the deployments it reported on.
struct DeviceEvidence {
  bool tampered = false;
  std::optional<common::TimePoint> last_seen;
  bool reported = false;  // a signed inventory report exists
  std::map<std::string, InstalledVersion> installed;
  std::set<std::string> pending;                   // components with a deployment assigned or running
  std::map<std::string, std::string> last_result;  // component -> succeeded | failed | rolled_back | timed_out
};

struct ComponentVerdict {
  std::string component;
  ComplianceStatus status = ComplianceStatus::kCompliant;
  std::string reason;
};

struct DeviceVerdict {
  ComplianceStatus status = ComplianceStatus::kCompliant;
  std::string reason;  // why, when nothing is required of the device's type
  std::vector<ComponentVerdict> components;  // one per requirement
};

DeviceVerdict evaluate_compliance(const std::vector<Requirement>& requirements, const DeviceEvidence& device,
                                  std::chrono::seconds max_staleness, common::TimePoint now);

}  // namespace flotilla::policy
