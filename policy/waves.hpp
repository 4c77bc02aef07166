// Who is in a rollout and in which wave (DESIGN.md §7): target matching,
// skipped and blocked devices, stable bucketing, cumulative waves with
// min_devices. Pure: the caller passes the fleet and persists the result.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/semver.hpp"
#include "policy/flat_map.hpp"
#include "policy/rollout_policy.hpp"

namespace flotilla::policy {

struct FleetDevice {
  std::string id;
  std::string type;
  FlatMap<std::string, std::string> labels;
  bool tampered = false;
  FlatMap<std::string, common::Version> versions;  // installed, per component
  std::optional<int> wave;  // an assignment made by an earlier evaluation: never changed
  bool busy = false;        // another deployment of the component is active on it: not offered now
  std::optional<std::chrono::minutes> utc_offset;  // as the device reports it: windows with tz "device"
};

// What the rollout's bundle is, from its verified manifest.
struct BundleFacts {
  std::string component;
  common::Version version;
  std::vector<std::pair<std::string, common::VersionRange>> requires_;
};

enum class Membership {
  kOutside,   // not in the target
  kEligible,  // will be offered the update in its wave
  kSkipped,   // already runs this version (or a later one)
  kBlocked,   // a `requires` range does not hold yet
};

struct Placement {
  std::string_view device_id;  // views the id in the fleet passed to place_devices: valid while it lives
  Membership membership = Membership::kOutside;
  std::string reason;        // for skipped, blocked and outside
  double bucket = 0;         // in [0, 1)
  std::optional<int> wave;   // nullopt: outside, or beyond the last wave's share
};

// SHA-256(rollout_id ‖ device_id), its first 8 bytes as a fraction of 2^64.
double bucket_of(std::string_view rollout_id, std::string_view device_id);

bool matches_target(const Target& target, const FleetDevice& device, std::string* reason = nullptr);

// Places every device. Population = devices matching the target; wave k
// holds, cumulatively, at most max(floor(N × size_k), Σ min_devices) of
// them, taken in bucket order among those whose bucket is below size_k,
// then the lowest remaining buckets while the wave has fewer than its
// min_devices. Devices with an earlier assignment keep it and count.
// Skipped and blocked devices are placed like the others (shares stay
// stable as devices update) but are never offered.
std::vector<Placement> place_devices(const RolloutPolicy& policy, const BundleFacts& bundle, std::string_view rollout_id,
                                     const std::vector<FleetDevice>& fleet);
// Placements view the fleet's ids: a temporary fleet would leave them dangling.
std::vector<Placement> place_devices(const RolloutPolicy& policy, const BundleFacts& bundle, std::string_view rollout_id,
                                     std::vector<FleetDevice>&& fleet) = delete;

}  // namespace flotilla::policy
