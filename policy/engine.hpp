// The rollout engine's entry point: evaluate(policy, snapshot, now) →
// decisions, over plain structs, so the server's scheduler, `policy
// simulate` and tests with a fake clock run the same code.
//
// Covers placement, device timeouts, wave gates, the failure guard,
// not_before, maintenance windows (with the deadline override), pace,
// retries and one deployment per device and component. Across rollouts
// (`requires` met by an earlier one, abort_and_rollback offers) the
// server's scheduler composes evaluations.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "policy/gates.hpp"
#include "policy/waves.hpp"
#include "policy/windows.hpp"

namespace flotilla::policy {

struct DeviceProgress {
  DeviceState state = DeviceState::kPending;
  std::optional<common::TimePoint> started_at;  // when the current attempt was offered
  std::int64_t attempts = 0;                    // offers so far
};

struct Snapshot {
  std::string rollout_id;
  BundleFacts bundle;
  std::vector<FleetDevice> fleet;
  std::map<std::string, DeviceProgress, std::less<>> progress;  // by device id; absent = never offered
  std::map<int, common::TimePoint> completed_at;   // persisted wave completion times
  std::set<int> approved;                          // approved waves
  std::int64_t acknowledged_failed = 0, acknowledged_finished = 0;  // see GateInput
  ZoneOffsets zones;  // IANA zones for windows; without it such windows never open
};

struct Evaluation {
  std::vector<Placement> placements;  // to persist: each device's wave
  GateDecision gates;
  std::vector<std::string> time_out;  // in progress past device_timeout: now timed_out
  std::vector<std::string> offer;     // offer the update now (first attempts and retries)
  std::string held_by;                // why nothing more is offered, when something is held back
};

// The evaluation's placements view the snapshot's device ids.
Evaluation evaluate(const RolloutPolicy& policy, const Snapshot& snapshot, common::TimePoint now);
Evaluation evaluate(const RolloutPolicy& policy, Snapshot&& snapshot, common::TimePoint now) = delete;

}  // namespace flotilla::policy
