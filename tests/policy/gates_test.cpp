#include "policy/gates.hpp"

#include <gtest/gtest.h>

namespace flotilla::policy {
namespace {

using common::Json;
using std::chrono::hours;

RolloutPolicy three_waves(const std::string& failure = R"({"max_failure_rate": "20%", "min_finished": 3, "action": "pause"})") {
  auto doc = Json::parse(R"({"name": "p", "bundle": {"name": "gw-os", "version": "2.4.0"},
    "target": {"device_types": ["gw-x1"]},
    "waves": [{"name": "canary", "size": "10%", "min_devices": 2, "soak": "2h", "success_threshold": "100%", "approval": "manual"},
              {"name": "early", "size": "50%", "soak": "6h", "success_threshold": "90%"},
              {"name": "all", "size": "100%"}],
    "failure": )" + failure + "}");
  return *parse_rollout_policy(doc);
}

// Ten devices d0..d9: 0-1 in the canary, 2-5 early, 6-9 all. Placements
// view their ids, which live as long as the test.
const std::vector<std::string> kIds = {"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"};
std::vector<Placement> placements() {
  std::vector<Placement> out;
  for (int i = 0; i < 10; ++i) {
    out.push_back({kIds[static_cast<std::size_t>(i)], Membership::kEligible, "", 0.1 * i, i < 2 ? 0 : i < 6 ? 1 : 2});
  }
  return out;
}

class GatesTest : public ::testing::Test {
 protected:
  RolloutPolicy policy = three_waves();
  std::vector<Placement> placed = placements();
  common::TimePoint t0 = *common::parse_rfc3339("2026-12-01T00:00:00Z");
  GateInput input{&policy, &placed, {}, {}, {}, t0};

  void set(int first, int last, DeviceState state) {
    for (int i = first; i <= last; ++i) input.states["d" + std::to_string(i)] = state;
  }
};

TEST_F(GatesTest, OnlyTheCanaryIsOpenAtFirst) {
  auto d = evaluate_gates(input);
  EXPECT_EQ(d.open_waves, 1);
  EXPECT_EQ(d.waiting, Waiting::kDevices);
  EXPECT_EQ(d.waves[0].pending, 2);
  EXPECT_FALSE(d.guard_tripped);
}

TEST_F(GatesTest, InProgressDevicesHoldTheWave) {
  set(0, 0, DeviceState::kSucceeded);
  set(1, 1, DeviceState::kInstalling);
  auto d = evaluate_gates(input);
  EXPECT_EQ(d.open_waves, 1);
  EXPECT_EQ(d.waves[0].in_progress, 1);
  EXPECT_EQ(d.reason, "wave canary: 1 device(s) not finished");
}

TEST_F(GatesTest, SoakThenApprovalThenNextWave) {
  set(0, 1, DeviceState::kSucceeded);
  auto done = evaluate_gates(input);
  EXPECT_EQ(done.waiting, Waiting::kSoak);
  EXPECT_EQ(done.waves[0].completed_at, t0);  // completed now: the caller persists this
  EXPECT_EQ(done.wake_at, t0 + hours(2));
  input.completed_at[0] = t0;
  input.now = t0 + hours(2);
  auto soaked = evaluate_gates(input);
  EXPECT_EQ(soaked.waiting, Waiting::kApproval);
  EXPECT_EQ(soaked.open_waves, 1);
  input.approved.insert(0);
  auto approved = evaluate_gates(input);
  EXPECT_EQ(approved.open_waves, 2);
  EXPECT_EQ(approved.waiting, Waiting::kDevices);
  EXPECT_EQ(approved.waiting_wave, 1);
}

TEST_F(GatesTest, ApprovalGivenEarlyStillWaitsForSoak) {
  set(0, 1, DeviceState::kSucceeded);
  input.completed_at[0] = t0;
  input.approved.insert(0);
  input.now = t0 + hours(1);
  EXPECT_EQ(evaluate_gates(input).waiting, Waiting::kSoak);
}

TEST_F(GatesTest, SuccessThresholdKeepsTheNextWaveClosed) {
  set(0, 1, DeviceState::kSucceeded);
  input.completed_at[0] = t0;
  input.approved.insert(0);
  set(2, 4, DeviceState::kSucceeded);
  set(5, 5, DeviceState::kRolledBack);  // 3 of 4 = 75 % < 90 %
  input.completed_at[1] = t0;
  input.now = t0 + hours(10);
  auto d = evaluate_gates(input);
  EXPECT_EQ(d.open_waves, 2);
  EXPECT_EQ(d.waiting, Waiting::kSuccessThreshold);
  EXPECT_EQ(d.reason, "wave early: success rate 75% is below 90%");
}

TEST_F(GatesTest, GuardTripsInTheMiddleOfAWaveOnceEnoughFinished) {
  policy = three_waves(R"({"max_failure_rate": "40%", "min_finished": 3, "action": "pause"})");
  set(0, 1, DeviceState::kSucceeded);
  input.completed_at[0] = t0;
  input.approved.insert(0);
  input.now = t0 + hours(3);
  set(2, 2, DeviceState::kFailed);
  auto early = evaluate_gates(input);
  EXPECT_FALSE(early.guard_tripped);  // 1 of 3 finished failed: 33 % is within 40 %
  set(3, 3, DeviceState::kTimedOut);  // 2 of 4 = 50 % > 40 %, with early still in progress
  auto tripped = evaluate_gates(input);
  EXPECT_TRUE(tripped.guard_tripped);
  EXPECT_EQ(tripped.reason, "2 of 4 finished devices failed, over 40%");
  EXPECT_EQ(tripped.waves[1].pending, 2);
}

TEST_F(GatesTest, GuardWaitsForMinFinished) {
  policy = three_waves(R"({"max_failure_rate": "5%", "min_finished": 5})");
  set(0, 0, DeviceState::kFailed);
  EXPECT_FALSE(evaluate_gates(input).guard_tripped);
}

TEST_F(GatesTest, AWaveWhereEveryDeviceWasSkippedIsComplete) {
  for (auto& p : placed) {
    if (*p.wave == 0) p.membership = Membership::kSkipped;
  }
  auto d = evaluate_gates(input);
  EXPECT_TRUE(d.waves[0].complete);
  EXPECT_EQ(d.waves[0].eligible, 0);
  EXPECT_EQ(d.waiting, Waiting::kSoak);  // soak and approval still apply
}

TEST_F(GatesTest, EverythingFinished) {
  set(0, 9, DeviceState::kSucceeded);
  input.completed_at = {{0, t0}, {1, t0}, {2, t0}};
  input.approved.insert(0);
  input.now = t0 + hours(10);
  auto d = evaluate_gates(input);
  EXPECT_EQ(d.open_waves, 3);
  EXPECT_EQ(d.waiting, Waiting::kFinished);
}

}  // namespace
}  // namespace flotilla::policy
