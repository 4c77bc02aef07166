// The engine over a scripted fleet with a fake clock: waves open in order,
// pace holds offers back, timeouts count as failures, retries are bounded,
// the guard stops everything, nothing starts before not_before.
#include "policy/engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace flotilla::policy {
namespace {

using common::Json;
using std::chrono::hours;
using std::chrono::minutes;

RolloutPolicy make_policy(const std::string& extra = "") {
  auto doc = Json::parse(R"({"name": "p", "bundle": {"name": "gw-os", "version": "2.4.0"},
    "target": {"device_types": ["gw-x1"]},
    "waves": [{"name": "canary", "size": "10%", "min_devices": 3, "soak": "1h", "approval": "manual"},
              {"name": "all", "size": "100%"}],
    "failure": {"max_failure_rate": "20%", "min_finished": 5, "action": "pause"},
    "device_timeout": "2h", "device_retries": 1)" + extra + "}");
  auto policy = parse_rollout_policy(doc);
  EXPECT_TRUE(policy) << (policy ? "" : policy.error()[0].pointer + ": " + policy.error()[0].message);
  return *policy;
}

class EngineTest : public ::testing::Test {
 protected:
  common::TimePoint now = *common::parse_rfc3339("2026-12-01T00:00:00Z");
  Snapshot snapshot;

  void SetUp() override {
    snapshot.rollout_id = "rollout-1";
    snapshot.bundle = {"rootfs", *common::Version::parse("2.4.0"), {}};
    for (int i = 0; i < 40; ++i) {
      snapshot.fleet.push_back({"d" + std::to_string(i), "gw-x1", {}, false, {{"rootfs", *common::Version::parse("2.3.0")}}, {}});
    }
  }

  // Applies an evaluation as the server would: persist placements and
  // wave completions, mark offers started and timeouts timed out.
  Evaluation step(const RolloutPolicy& policy) {
    auto e = evaluate(policy, snapshot, now);
    for (std::size_t i = 0; i < snapshot.fleet.size(); ++i) snapshot.fleet[i].wave = e.placements[i].wave;
    for (const auto& w : e.gates.waves) {
      if (w.completed_at && !snapshot.completed_at.contains(w.wave)) snapshot.completed_at[w.wave] = *w.completed_at;
    }
    for (const auto& id : e.time_out) snapshot.progress[id].state = DeviceState::kTimedOut;
    for (const auto& id : e.offer) {
      auto& p = snapshot.progress[id];
      p.state = DeviceState::kOffered;
      p.started_at = now;
      ++p.attempts;
    }
    return e;
  }

  void finish(const std::vector<std::string>& ids, DeviceState state) {
    for (const auto& id : ids) snapshot.progress[id].state = state;
  }

  // Finishes the canary and lets its soak pass (the completion is recorded
  // by the evaluation that first sees it).
  void canary_done(const RolloutPolicy& policy, const std::vector<std::string>& canary) {
    finish(canary, DeviceState::kSucceeded);
    step(policy);
    now += hours(1);
  }
};

TEST_F(EngineTest, CanaryThenApprovalThenEveryone) {
  auto policy = make_policy();
  auto first = step(policy);
  // The canary: buckets under 10 %, topped up to min_devices (3), at most 4.
  ASSERT_GE(first.offer.size(), 3u);
  ASSERT_LE(first.offer.size(), 4u);
  for (const auto& id : first.offer) EXPECT_EQ(snapshot.fleet[std::stoul(id.substr(1))].wave, 0);
  EXPECT_EQ(step(policy).offer.size(), 0u);  // the canary is in flight
  finish(first.offer, DeviceState::kSucceeded);
  auto soaking = step(policy);
  EXPECT_TRUE(soaking.offer.empty());
  EXPECT_EQ(soaking.gates.waiting, Waiting::kSoak);
  now += hours(1);
  EXPECT_EQ(step(policy).gates.waiting, Waiting::kApproval);
  snapshot.approved.insert(0);
  auto rest = step(policy);
  EXPECT_EQ(rest.offer.size(), 40u - first.offer.size());
  finish(rest.offer, DeviceState::kSucceeded);
  EXPECT_EQ(step(policy).gates.waiting, Waiting::kFinished);
}

TEST_F(EngineTest, PaceLimitsInFlightAndStartsPerHour) {
  auto policy = make_policy(R"(, "pace": {"max_in_progress": 10, "max_starts_per_hour": 15})");
  snapshot.approved.insert(0);
  auto canary = step(policy);
  canary_done(policy, canary.offer);
  auto a = step(policy);
  EXPECT_EQ(a.offer.size(), 10u);  // in flight capped
  EXPECT_FALSE(a.held_by.empty());
  finish(a.offer, DeviceState::kSucceeded);
  auto b = step(policy);
  EXPECT_EQ(b.offer.size(), 5u);  // 10 started this hour, 15 allowed
  finish(b.offer, DeviceState::kSucceeded);
  now += hours(1) + minutes(1);
  EXPECT_EQ(step(policy).offer.size(), 10u);
}

TEST_F(EngineTest, TimeoutsCountAsFailuresAndRetriesAreBounded) {
  auto policy = make_policy(R"(, "failure": {"max_failure_rate": "100%", "min_finished": 1})");
  auto canary = step(policy);
  now += hours(3);  // past the 2h device_timeout
  auto timed = step(policy);
  EXPECT_EQ(timed.time_out.size(), canary.offer.size());
  // Timed out, and retried once at once (device_retries: 1).
  EXPECT_EQ(timed.offer.size(), canary.offer.size());
  now += hours(3);
  auto again = step(policy);
  EXPECT_EQ(again.time_out.size(), canary.offer.size());
  EXPECT_TRUE(again.offer.empty());  // retries used up
  for (const auto& id : canary.offer) EXPECT_EQ(snapshot.progress[id].attempts, 2);
}

TEST_F(EngineTest, GuardStopsAllOffers) {
  auto policy = make_policy(R"(, "pace": {"max_in_progress": 100})");
  snapshot.approved.insert(0);
  auto canary = step(policy);
  canary_done(policy, canary.offer);
  auto wave = step(policy);
  ASSERT_EQ(wave.offer.size(), 40u - canary.offer.size());
  std::vector<std::string> failing(wave.offer.begin(), wave.offer.begin() + 3);
  finish(failing, DeviceState::kRolledBack);  // 3 of 6 or 7 finished: over 20 %
  auto stopped = step(policy);
  EXPECT_TRUE(stopped.gates.guard_tripped);
  EXPECT_TRUE(stopped.offer.empty());
  EXPECT_NE(stopped.held_by.find("failure guard"), std::string::npos);
}

TEST_F(EngineTest, NothingBeforeNotBefore) {
  auto policy = make_policy(R"(, "schedule": {"not_before": "2026-12-02T00:00:00Z"})");
  auto early = step(policy);
  EXPECT_TRUE(early.offer.empty());
  EXPECT_EQ(early.held_by, "not before 2026-12-02T00:00:00Z");
  now += hours(24);
  EXPECT_GE(step(policy).offer.size(), 3u);
}

TEST_F(EngineTest, SkippedAndBlockedAreNeverOffered) {
  snapshot.fleet[0].versions["rootfs"] = *common::Version::parse("2.4.0");
  snapshot.bundle.requires_.push_back({"bootloader", *common::VersionRange::parse(">=1.0.0")});
  for (std::size_t i = 1; i < snapshot.fleet.size(); ++i) {
    snapshot.fleet[i].versions["bootloader"] = *common::Version::parse(i % 2 ? "1.0.0" : "0.9.0");
  }
  auto policy = make_policy(R"(, "waves": [{"name": "all", "size": "100%"}])");
  auto e = step(policy);
  EXPECT_EQ(e.offer.size(), 20u);  // odd devices: bootloader 1.0.0
  for (const auto& id : e.offer) EXPECT_NE(id, "d0");
}

// Over many random fleets and histories: no device is offered while it has
// an update in flight in this rollout or another deployment of the
// component is active on it (one deployment per device and component), and
// no device is offered more than 1 + device_retries times.
TEST_F(EngineTest, NeverTwoConcurrentDeploymentsPerComponent) {
  std::mt19937 rng(20261124);
  auto policy = make_policy(R"(, "pace": {"max_in_progress": 15})");
  for (int round = 0; round < 100; ++round) {
    snapshot = Snapshot{};
    SetUp();
    snapshot.fleet.resize(static_cast<std::size_t>(std::uniform_int_distribution<int>(5, 40)(rng)));
    for (auto& d : snapshot.fleet) d.busy = std::uniform_int_distribution<int>(0, 4)(rng) == 0;
    std::set<int> approved = {0};
    snapshot.approved = approved;
    std::map<std::string, int> offers;
    for (int t = 0; t < 30; ++t) {
      for (auto& [id, p] : snapshot.progress) {
        if (is_in_progress(p.state) && std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
          p.state = std::uniform_int_distribution<int>(0, 3)(rng) == 0 ? DeviceState::kFailed : DeviceState::kSucceeded;
        }
      }
      auto before = snapshot.progress;
      auto e = step(policy);
      for (const auto& id : e.offer) {
        auto device = std::find_if(snapshot.fleet.begin(), snapshot.fleet.end(), [&](const FleetDevice& d) { return d.id == id; });
        ASSERT_NE(device, snapshot.fleet.end());
        ASSERT_FALSE(device->busy) << id;
        // In flight means not offered again, unless it just timed out (a retry).
        auto it = before.find(id);
        bool timed_out = std::find(e.time_out.begin(), e.time_out.end(), id) != e.time_out.end();
        ASSERT_TRUE(it == before.end() || !is_in_progress(it->second.state) || timed_out) << id << " offered while in flight";
        ASSERT_LE(++offers[id], 1 + policy.device_retries) << id;
      }
      now += minutes(30);
    }
  }
}

TEST_F(EngineTest, UpdatedDevicesStayMembersOfTheirWave) {
  auto policy = make_policy(R"(, "waves": [{"name": "all", "size": "100%"}])");
  auto first = step(policy);
  ASSERT_EQ(first.offer.size(), 40u);
  // They commit and report the new version: still succeeded members, not skipped.
  finish(first.offer, DeviceState::kSucceeded);
  for (auto& d : snapshot.fleet) d.versions["rootfs"] = *common::Version::parse("2.4.0");
  auto e = step(policy);
  EXPECT_EQ(e.gates.waves[0].eligible, 40);
  EXPECT_EQ(e.gates.waves[0].succeeded, 40);
  EXPECT_EQ(e.gates.waiting, Waiting::kFinished);
}

}  // namespace
}  // namespace flotilla::policy
