#include "server/deployment_state.hpp"

#include <gtest/gtest.h>

namespace flotilla::server {
namespace {

TEST(DeploymentState, DeviceReportsMapToStoredStates) {
  EXPECT_EQ(state_from_device_report("committed"), "succeeded");
  EXPECT_EQ(state_from_device_report("rolled_back"), "rolled_back");
  EXPECT_EQ(state_from_device_report("verifying"), "verifying");
  for (const char* bad : {"pending", "offered", "succeeded", "timed_out", "bogus", ""}) {
    EXPECT_FALSE(state_from_device_report(bad)) << bad;
  }
}

TEST(DeploymentState, OnlyForwardAndFinalStaysFinal) {
  EXPECT_TRUE(can_transition("offered", "downloading"));
  EXPECT_TRUE(can_transition("offered", "installing"));
  EXPECT_TRUE(can_transition("verifying", "succeeded"));
  EXPECT_TRUE(can_transition("downloading", "failed"));
  EXPECT_TRUE(can_transition("rebooting", "rolled_back"));
  EXPECT_FALSE(can_transition("installing", "downloading"));
  EXPECT_FALSE(can_transition("pending", "succeeded"));
  for (const char* final_state : {"succeeded", "failed", "rolled_back", "timed_out"}) {
    EXPECT_TRUE(is_final_state(final_state));
    EXPECT_FALSE(can_transition(final_state, "downloading")) << final_state;
    EXPECT_FALSE(can_transition(final_state, "failed")) << final_state;
  }
}

}  // namespace
}  // namespace flotilla::server
