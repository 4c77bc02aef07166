// A compliance baseline (DESIGN.md §9): what a compliant device runs.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/semver.hpp"
#include "common/time.hpp"
#include "policy/document.hpp"

namespace flotilla::policy {

struct BaselineRule {
  std::vector<std::string> device_types;
  std::string component;
  std::optional<common::Version> min_version;
  std::optional<std::int64_t> min_security_version;
  std::optional<common::TimePoint> deadline;
};

struct Baseline {
  std::string name;
  std::vector<BaselineRule> rules;
  std::chrono::seconds max_staleness{48 * 3600};
};

std::expected<Baseline, PolicyErrors> parse_baseline(const common::Json& document);

}  // namespace flotilla::policy
