// The rollout policy of DESIGN.md §7 as plain structs, and its parser.
// docs/policy.md is the operator's reference.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/semver.hpp"
#include "common/time.hpp"
#include "policy/document.hpp"
#include "policy/units.hpp"

namespace flotilla::policy {

struct BundleRef {
  std::string name;
  common::Version version;
};

struct Target {
  std::vector<std::string> device_types;
  std::map<std::string, std::string> labels;          // all must match
  std::map<std::string, std::string> exclude_labels;  // any match excludes
  bool exclude_tampered = false;
};

struct Wave {
  std::string name;
  Percent size;                 // cumulative share of the population
  std::int64_t min_devices = 0;
  std::chrono::seconds soak{0};
  Percent success_threshold{1000000};
  bool manual_approval = false;
};

enum class FailureAction { kPause, kAbort, kAbortAndRollback };

struct FailureGuard {
  Percent max_failure_rate;
  std::int64_t min_finished = 1;
  FailureAction action = FailureAction::kPause;
};

struct Pace {
  std::optional<std::int64_t> max_in_progress;
  std::optional<std::int64_t> max_starts_per_hour;
};

// Where a window's times are read: UTC, a fixed offset, a named IANA zone
// (resolved by the caller, since policy/ reads no files), or the offset
// the device reports.
struct TimeZone {
  enum class Kind { kUtc, kFixed, kIana, kDevice } kind = Kind::kUtc;
  std::chrono::minutes offset{0};  // kFixed
  std::string name;                // kIana
};

struct Window {
  std::vector<int> days;  // 0 = Monday .. 6 = Sunday
  std::chrono::minutes start{0};
  std::chrono::seconds duration{0};
  TimeZone tz;
};

struct Schedule {
  std::optional<common::TimePoint> not_before;
  std::vector<Window> windows;
  enum class AppliesTo { kAll, kActivate } applies_to = AppliesTo::kAll;
};

struct RolloutPolicy {
  std::string name;
  BundleRef bundle;
  Target target;
  std::vector<Wave> waves;
  std::optional<FailureGuard> failure;
  Pace pace;
  Schedule schedule;
  std::optional<common::TimePoint> deadline;
  bool enforce_after_deadline = false;
  std::optional<std::chrono::seconds> device_timeout;
  std::int64_t device_retries = 0;
  bool allow_downgrade = false;
  std::optional<BundleRef> rollback_bundle;  // on_abort.rollback_bundle
};

inline constexpr std::size_t kMaxWaves = 20;

// Every problem of the document at once, or the policy.
std::expected<RolloutPolicy, PolicyErrors> parse_rollout_policy(const common::Json& document);

// "UTC", "+05:30" / "-08:00", "device", or an IANA name such as
// "Europe/Berlin" (syntax only).
std::optional<TimeZone> parse_time_zone(std::string_view text);

}  // namespace flotilla::policy
