#include "policy/waves.hpp"

#include <gtest/gtest.h>
#include <random>
#include <set>

namespace flotilla::policy {
namespace {

using common::Json;

RolloutPolicy policy_with(const std::string& waves_json, const std::string& extra = "") {
  auto doc = Json::parse(R"({"name": "p", "bundle": {"name": "gw-os", "version": "2.4.0"},
    "target": {"device_types": ["gw-x1", "gw-x2"], "labels": {"region": "eu"}, "exclude_labels": {"tier": "critical"},
               "exclude_tampered": true}, "waves": )" + waves_json + extra + "}");
  auto policy = parse_rollout_policy(doc);
  EXPECT_TRUE(policy);
  return *policy;
}

BundleFacts os_bundle() {
  return {"rootfs", *common::Version::parse("2.4.0"), {{"bootloader", *common::VersionRange::parse(">=1.0.0")}}};
}

FleetDevice device(int i, const std::string& rootfs = "2.3.0") {
  return {"dev-" + std::to_string(i), "gw-x1", {{"region", "eu"}}, false,
          {{"rootfs", *common::Version::parse(rootfs)}, {"bootloader", *common::Version::parse("1.2.0")}}, std::nullopt};
}

std::vector<FleetDevice> fleet(int n, int first = 0) {
  std::vector<FleetDevice> out;
  for (int i = first; i < first + n; ++i) out.push_back(device(i));
  return out;
}

std::map<int, int> wave_counts(const std::vector<Placement>& placements) {
  std::map<int, int> counts;
  for (const auto& p : placements) {
    if (p.wave) ++counts[*p.wave];
  }
  return counts;
}

TEST(Waves, BucketIsDeterministicAndSpread) {
  EXPECT_EQ(bucket_of("r1", "dev-1"), bucket_of("r1", "dev-1"));
  EXPECT_NE(bucket_of("r1", "dev-1"), bucket_of("r2", "dev-1"));
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    double b = bucket_of("r", std::to_string(i));
    ASSERT_GE(b, 0.0);
    ASSERT_LT(b, 1.0);
    sum += b;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.02);
}

TEST(Waves, TargetMatchingNamesTheReason) {
  auto policy = policy_with(R"([{"name": "all", "size": "100%"}])");
  std::string why;
  auto other_type = device(1);
  other_type.type = "gw-x9";
  EXPECT_FALSE(matches_target(policy.target, other_type, &why));
  EXPECT_EQ(why, "device type gw-x9 is not targeted");
  auto us = device(2);
  us.labels["region"] = "us";
  EXPECT_FALSE(matches_target(policy.target, us, &why));
  auto critical = device(3);
  critical.labels["tier"] = "critical";
  EXPECT_FALSE(matches_target(policy.target, critical, &why));
  EXPECT_EQ(why, "label tier=critical is excluded");
  auto tampered = device(4);
  tampered.tampered = true;
  EXPECT_FALSE(matches_target(policy.target, tampered, &why));
  EXPECT_TRUE(matches_target(policy.target, device(5)));
}

TEST(Waves, SkippedAndBlockedDevicesArePlacedButNamed) {
  auto policy = policy_with(R"([{"name": "all", "size": "100%"}])");
  auto current = device(1, "2.4.0");
  auto newer = device(2, "2.5.0");
  auto old_bootloader = device(3);
  old_bootloader.versions["bootloader"] = *common::Version::parse("0.9.0");
  auto outside = device(4);
  outside.type = "gw-x9";
  std::vector<FleetDevice> devices = {current, newer, old_bootloader, outside, device(5)};
  auto placements = place_devices(policy, os_bundle(), "r", devices);
  EXPECT_EQ(placements[0].membership, Membership::kSkipped);
  EXPECT_EQ(placements[0].reason, "already runs 2.4.0");
  EXPECT_EQ(placements[1].membership, Membership::kSkipped);
  EXPECT_EQ(placements[2].membership, Membership::kBlocked);
  EXPECT_EQ(placements[2].reason, "needs bootloader >=1.0.0, runs 0.9.0");
  EXPECT_EQ(placements[3].membership, Membership::kOutside);
  EXPECT_FALSE(placements[3].wave);
  EXPECT_EQ(placements[4].membership, Membership::kEligible);
  for (int i : {0, 1, 2, 4}) EXPECT_EQ(placements[static_cast<std::size_t>(i)].wave, 0) << i;
}

TEST(Waves, ABlockedDeviceSaysWhetherItLacksTheComponentOrHasNotReportedYet) {
  auto policy = policy_with(R"([{"name": "all", "size": "100%"}])");
  auto no_bootloader = device(1);
  no_bootloader.versions = {{"rootfs", *common::Version::parse("2.3.0")}};
  auto silent = device(2);
  silent.versions = {};  // enrolled, first inventory not in yet
  std::vector<FleetDevice> devices = {no_bootloader, silent};
  auto placements = place_devices(policy, os_bundle(), "r", devices);
  EXPECT_EQ(placements[0].membership, Membership::kBlocked);
  EXPECT_EQ(placements[0].reason, "needs bootloader >=1.0.0, which it does not have");
  EXPECT_EQ(placements[1].membership, Membership::kBlocked);
  EXPECT_EQ(placements[1].reason, "needs bootloader >=1.0.0, which is unknown until the device reports its inventory");
}

TEST(Waves, OnePercentOfSevenWithMinDevices) {
  auto policy = policy_with(R"([{"name": "canary", "size": "1%", "min_devices": 5}, {"name": "all", "size": "100%"}])");
  auto devices = fleet(7);
  auto placements = place_devices(policy, os_bundle(), "r", devices);
  auto counts = wave_counts(placements);
  EXPECT_EQ(counts[0], 5);
  EXPECT_EQ(counts[1], 2);
  // The canary takes the five lowest buckets.
  std::vector<double> canary, rest;
  for (const auto& p : placements) (*p.wave == 0 ? canary : rest).push_back(p.bucket);
  EXPECT_LT(*std::max_element(canary.begin(), canary.end()), *std::min_element(rest.begin(), rest.end()));
}

TEST(Waves, AFleetBeyondTheLastShareIsLeftOut) {
  auto policy = policy_with(R"([{"name": "half", "size": "50%"}])");
  auto devices = fleet(1000);
  auto counts = wave_counts(place_devices(policy, os_bundle(), "r", devices));
  EXPECT_LE(counts[0], 500);
  EXPECT_GE(counts[0], 450);
}

// Properties over many random fleets and policies.
TEST(Waves, PropertiesOverRandomFleets) {
  std::mt19937 rng(20261124);
  for (int round = 0; round < 200; ++round) {
    int n = std::uniform_int_distribution<int>(0, 400)(rng);
    int first = std::uniform_int_distribution<int>(1, 50)(rng);
    int second = std::uniform_int_distribution<int>(first, 100)(rng);
    int min_devices = std::uniform_int_distribution<int>(0, 10)(rng);
    auto policy = policy_with("[{\"name\": \"a\", \"size\": \"" + std::to_string(first) + "%\", \"min_devices\": " +
                              std::to_string(min_devices) + "}, {\"name\": \"b\", \"size\": \"" + std::to_string(second) +
                              "%\"}, {\"name\": \"c\", \"size\": \"100%\"}]");
    std::string rollout = "rollout-" + std::to_string(round);
    auto devices = fleet(n);
    auto placements = place_devices(policy, os_bundle(), rollout, devices);

    // Deterministic, whatever the input order.
    auto shuffled = devices;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::map<std::string, std::optional<int>> by_id;
    for (const auto& p : placements) by_id[std::string(p.device_id)] = p.wave;
    for (const auto& p : place_devices(policy, os_bundle(), rollout, shuffled)) {
      ASSERT_EQ(p.wave, by_id[std::string(p.device_id)]) << "round " << round;
    }

    // Cumulative counts never exceed the share, or the min_devices floor.
    auto counts = wave_counts(placements);
    std::int64_t cumulative = 0;
    for (std::size_t k = 0; k < policy.waves.size(); ++k) {
      cumulative += counts[static_cast<int>(k)];
      ASSERT_LE(cumulative, std::max(policy.waves[k].size.of(n), std::int64_t{min_devices})) << "round " << round << " wave " << k;
    }
    ASSERT_EQ(cumulative, n);  // the last wave is 100%: everyone is placed

    // Adding devices never moves one already placed (assignments persist).
    for (std::size_t i = 0; i < devices.size(); ++i) devices[i].wave = placements[i].wave;
    auto grown = devices;
    auto extra = fleet(std::uniform_int_distribution<int>(1, 200)(rng), 100000);
    grown.insert(grown.end(), extra.begin(), extra.end());
    auto regrown = place_devices(policy, os_bundle(), rollout, grown);
    for (std::size_t i = 0; i < devices.size(); ++i) ASSERT_EQ(regrown[i].wave, placements[i].wave) << "round " << round;
  }
}

}  // namespace
}  // namespace flotilla::policy
