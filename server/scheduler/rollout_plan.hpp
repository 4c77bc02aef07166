// Between the store and the pure engine: a rollout's rows become a
// policy::Snapshot, and the engine's Evaluation becomes a RolloutPass the
// store applies in one transaction, plus the status `rollouts show` reads.
#pragma once

#include "policy/engine.hpp"
#include "policy/rollout_policy.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

// IANA zones from the system's tzdata, loaded once per zone and shared.
const policy::ZoneOffsets& system_zones();

// A rollout's policy and bundle, parsed from what the store kept.
struct LoadedRollout {
  policy::RolloutPolicy policy;
  policy::BundleFacts bundle;
};

common::Result<LoadedRollout> load_rollout(Store& store, const RolloutRecord& rollout);
// The same from a policy document and a bundle record (create, dry-run).
common::Result<LoadedRollout> load_rollout(const policy::RolloutPolicy& policy, const BundleRecord& bundle);

// Reads the rollout's devices and waves from the store into a snapshot,
// a device at a time: the scheduler holds one copy of a large fleet.
common::Result<policy::Snapshot> load_snapshot(Store& store, const RolloutRecord& rollout, const LoadedRollout& loaded);

// The store's per-device state as the engine knows it. A 'pending' row
// was already offered by the scheduler (the device fetches it at its next
// poll), so it counts as in progress.
policy::DeviceState engine_state(std::string_view state);

// What this pass changes, given the rollout's current record.
RolloutPass plan_pass(const RolloutRecord& rollout, const LoadedRollout& loaded, const policy::Snapshot& snapshot,
                      const policy::Evaluation& evaluation, common::TimePoint now);

// The status document `rollouts show` and the CLI's --watch render, with
// the offers this pass makes already counted as in progress.
common::Json status_of(const LoadedRollout& loaded, const policy::Snapshot& snapshot, const policy::Evaluation& evaluation,
                       const std::vector<std::string>& offers, common::TimePoint now);

}  // namespace flotilla::server
