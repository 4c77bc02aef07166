#include "policy/waves.hpp"

#include <algorithm>
#include <numeric>

#include "signing/digest.hpp"

namespace flotilla::policy {

double bucket_of(std::string_view rollout_id, std::string_view device_id) {
  signing::Sha256 hasher;
  hasher.update(rollout_id);
  hasher.update(device_id);
  auto digest = hasher.finish();
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = value << 8 | digest[static_cast<std::size_t>(i)];
  return static_cast<double>(value >> 11) / static_cast<double>(std::uint64_t{1} << 53);  // exact in a double
}

bool matches_target(const Target& target, const FleetDevice& device, std::string* reason) {
  auto why = [&](std::string text) {
    if (reason) *reason = std::move(text);
    return false;
  };
  if (std::find(target.device_types.begin(), target.device_types.end(), device.type) == target.device_types.end()) {
    return why("device type " + device.type + " is not targeted");
  }
  for (const auto& [key, value] : target.labels) {
    auto it = device.labels.find(key);
    if (it == device.labels.end() || it->second != value) return why("label " + key + " is not " + value);
  }
  for (const auto& [key, value] : target.exclude_labels) {
    auto it = device.labels.find(key);
    if (it != device.labels.end() && it->second == value) return why("label " + key + "=" + value + " is excluded");
  }
  if (target.exclude_tampered && device.tampered) return why("the device reported tampering");
  return true;
}

namespace {

// Membership of a targeted device: skipped, blocked or eligible.
Membership classify(const BundleFacts& bundle, const FleetDevice& device, bool allow_downgrade, std::string& reason) {
  auto installed = device.versions.find(bundle.component);
  if (installed != device.versions.end()) {
    if (installed->second == bundle.version) {
      reason = "already runs " + bundle.version.text();
      return Membership::kSkipped;
    }
    if (bundle.version < installed->second && !allow_downgrade) {
      reason = "runs a later version (" + installed->second.text() + ")";
      return Membership::kSkipped;
    }
  }
  for (const auto& [component, range] : bundle.requires_) {
    auto it = device.versions.find(component);
    if (it == device.versions.end() || !range.contains(it->second)) {
      // A device that has not sent its first inventory is held, not
      // judged: the operator should know it is waiting, not lacking.
      const char* has = device.versions.empty() ? ", which is unknown until the device reports its inventory"
                                                : ", which it does not have";
      reason = "needs " + component + " " + range.text() + (it == device.versions.end() ? has : ", runs " + it->second.text());
      return Membership::kBlocked;
    }
  }
  return Membership::kEligible;
}

}  // namespace

std::vector<Placement> place_devices(const RolloutPolicy& policy, const BundleFacts& bundle, std::string_view rollout_id,
                                     const std::vector<FleetDevice>& fleet) {
  std::vector<Placement> placements(fleet.size());
  std::vector<std::size_t> population;
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    auto& p = placements[i];
    p.device_id = fleet[i].id;
    p.bucket = bucket_of(rollout_id, fleet[i].id);
    if (!matches_target(policy.target, fleet[i], &p.reason)) continue;
    p.membership = classify(bundle, fleet[i], policy.allow_downgrade, p.reason);
    population.push_back(i);
  }
  // Bucket order decides who goes first; the id breaks (astronomically
  // unlikely) ties so the result never depends on the input order.
  std::sort(population.begin(), population.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(placements[a].bucket, fleet[a].id) < std::tie(placements[b].bucket, fleet[b].id);
  });

  const auto n = static_cast<std::int64_t>(population.size());
  std::vector<std::int64_t> count(policy.waves.size(), 0);
  for (std::size_t i : population) {
    if (fleet[i].wave && *fleet[i].wave >= 0 && static_cast<std::size_t>(*fleet[i].wave) < policy.waves.size()) {
      placements[i].wave = fleet[i].wave;
      ++count[static_cast<std::size_t>(*fleet[i].wave)];
    }
  }
  std::int64_t cumulative = 0, min_sum = 0;
  for (std::size_t k = 0; k < policy.waves.size(); ++k) {
    const Wave& wave = policy.waves[k];
    min_sum += wave.min_devices;
    cumulative += count[k];
    const std::int64_t cap = std::max(wave.size.of(n), min_sum);
    const double threshold = static_cast<double>(wave.size.ppm) / 1e6;
    auto take = [&](std::size_t i) {
      placements[i].wave = static_cast<int>(k);
      ++count[k];
      ++cumulative;
    };
    // Natural members: bucket below the wave's share, while the share lasts.
    for (std::size_t i : population) {
      if (cumulative >= cap) break;
      if (!placements[i].wave && placements[i].bucket < threshold) take(i);
    }
    // min_devices pulls in the lowest remaining buckets.
    for (std::size_t i : population) {
      if (count[k] >= wave.min_devices || cumulative >= cap) break;
      if (!placements[i].wave) take(i);
    }
  }
  return placements;
}

}  // namespace flotilla::policy
