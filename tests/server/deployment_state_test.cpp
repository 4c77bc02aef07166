#include "server/deployment_state.hpp"

#include <gtest/gtest.h>

namespace flotilla::server {
namespace {

TEST(DeploymentState, DeviceReportsMapToRecordedNames) {
  EXPECT_EQ(state_from_device_report("committed"), "succeeded");
  EXPECT_EQ(state_from_device_report("rolled_back"), "rolled_back");
  EXPECT_EQ(state_from_device_report("verifying"), "verifying");
  EXPECT_EQ(state_from_device_report("interrupted"), "interrupted");
  for (const char* bad : {"pending", "offered", "succeeded", "timed_out", "bogus", ""}) {
    EXPECT_FALSE(state_from_device_report(bad)) << bad;
  }
  for (auto r : kDeviceReports) {
    EXPECT_EQ(parse_device_report(report_word(r)), r);
    EXPECT_EQ(parse_recorded_report(recorded_name(r)), r);
  }
  for (auto s : kDeploymentStates) EXPECT_EQ(parse_deployment_state(state_name(s)), s);
}

TEST(DeploymentState, ForwardOnlyExceptInterruptionsAndARetriedTrial) {
  using S = DeploymentState;
  using R = DeviceReport;
  EXPECT_EQ(apply_report(S::kOffered, R::kDownloading), S::kDownloading);
  EXPECT_EQ(apply_report(S::kOffered, R::kInstalling), S::kInstalling);
  EXPECT_EQ(apply_report(S::kDownloading, R::kDownloading), S::kDownloading);  // progress
  EXPECT_EQ(apply_report(S::kVerifying, R::kCommitted), S::kSucceeded);
  EXPECT_EQ(apply_report(S::kDownloading, R::kFailed), S::kFailed);
  EXPECT_EQ(apply_report(S::kRebooting, R::kRolledBack), S::kRolledBack);
  EXPECT_EQ(apply_report(S::kInstalling, R::kInterrupted), S::kDownloading);
  EXPECT_EQ(apply_report(S::kVerifying, R::kRebooting), S::kRebooting);  // the trial's boot was cut
  EXPECT_FALSE(apply_report(S::kInstalling, R::kDownloading));
  EXPECT_FALSE(apply_report(S::kRebooting, R::kInterrupted));  // a written slot is not taken again
  EXPECT_FALSE(apply_report(S::kPending, R::kCommitted));
}

// Every (state, report) pair either has one row or is refused, and the
// final states refuse every report.
TEST(DeploymentState, EveryPairHasAtMostOneRowAndFinalStaysFinal) {
  for (auto s : kDeploymentStates) {
    for (auto r : kDeviceReports) {
      int rows = 0;
      for (const auto& rule : kReportRules) rows += rule.report == r && rule.from.contains(s);
      EXPECT_LE(rows, 1) << state_name(s) << " / " << report_word(r);
      if (is_final(s)) {
        EXPECT_FALSE(apply_report(s, r)) << state_name(s) << " / " << report_word(r);
      }
    }
  }
  for (const char* final_state : {"succeeded", "failed", "rolled_back", "timed_out"}) {
    EXPECT_TRUE(is_final(*parse_deployment_state(final_state))) << final_state;
  }
}

}  // namespace
}  // namespace flotilla::server
