// A rehearsal of a rollout: the engine run over a described fleet with a
// simulated clock (`flotilla policy simulate`). Devices take the update
// when offered and finish after a pseudo-random time, failing with a given
// rate; everything derives from the seed, so a run can be repeated.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/engine.hpp"

namespace flotilla::policy {

struct SimulationOptions {
  double failure_rate = 0;  // chance that one attempt fails, in [0, 1]
  std::uint64_t seed = 1;
  common::TimePoint start;  // the simulated "now" when the rollout is created
  std::chrono::seconds step{300};
  std::chrono::seconds horizon{std::chrono::hours(24 * 90)};
  std::chrono::seconds min_install{600}, max_install{2400};  // offer → final state
};

struct TimelineEvent {
  common::TimePoint at;
  std::string event;
};

struct SimulationResult {
  std::vector<FleetDevice> fleet;       // the simulated fleet: placements view its ids
  std::vector<Placement> placements;
  std::vector<TimelineEvent> timeline;
  std::string outcome;  // completed | paused | aborted | stalled | horizon
  std::int64_t succeeded = 0, failed = 0, offers = 0;
};

SimulationResult simulate(const RolloutPolicy& policy, const BundleFacts& bundle, std::vector<FleetDevice> fleet,
                          const SimulationOptions& options);

}  // namespace flotilla::policy
