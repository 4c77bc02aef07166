// Wave gates and the failure guard (DESIGN.md §7), as a pure function of
// the placements, each device's progress, approvals and the time.
//
// Wave k+1 opens when wave k is complete (every eligible member finished),
// its success rate among finished members reaches its success_threshold,
// its soak has passed since it completed, and — when wave k's approval is
// manual — an operator approved it. The guard trips when failed/finished
// over the whole rollout exceeds max_failure_rate once min_finished
// devices finished. Skipped and blocked devices never hold a wave open.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "policy/waves.hpp"

namespace flotilla::policy {

enum class DeviceState { kPending, kOffered, kDownloading, kInstalling, kRebooting, kVerifying,
                         kSucceeded, kFailed, kRolledBack, kTimedOut };
bool is_finished(DeviceState state);
bool is_in_progress(DeviceState state);

struct WaveReport {
  int wave = 0;
  std::int64_t eligible = 0, pending = 0, in_progress = 0, succeeded = 0, failed = 0;
  bool complete = false;
  std::optional<common::TimePoint> completed_at;  // as persisted, or now if it completed just now
};

enum class Waiting { kNothing, kDevices, kSuccessThreshold, kSoak, kApproval, kFinished };

struct GateDecision {
  int open_waves = 0;                 // waves [0, open_waves) may be offered
  Waiting waiting = Waiting::kNothing;
  std::optional<int> waiting_wave;    // the wave the gate waits on
  std::optional<common::TimePoint> wake_at;  // soak end, when waiting for soak
  bool guard_tripped = false;
  std::string reason;                 // for people: why it waits or stopped
  std::vector<WaveReport> waves;
};

struct GateInput {
  const RolloutPolicy* policy = nullptr;
  const std::vector<Placement>* placements = nullptr;
  std::map<std::string, DeviceState, std::less<>> states;              // by device id; absent = pending
  std::map<int, common::TimePoint> completed_at;           // persisted wave completion times
  std::set<int> approved;                                  // waves an operator approved
  common::TimePoint now;
  // Failures an operator already saw when resuming after the guard
  // tripped: the guard then judges only what finished since.
  std::int64_t acknowledged_failed = 0, acknowledged_finished = 0;
};

GateDecision evaluate_gates(const GateInput& input);

}  // namespace flotilla::policy
