// Compliance status (DESIGN.md §9) with a fake clock: one test per status,
// the precedence conflicts, the baseline's rule selection and the default
// rule without a baseline.
#include "policy/compliance.hpp"

#include <gtest/gtest.h>

namespace flotilla::policy {
namespace {

using std::chrono::hours;
using Status = ComplianceStatus;

common::TimePoint at(const char* text) { return *common::parse_rfc3339(text); }
common::Version v(const char* text) { return *common::Version::parse(text); }

class ComplianceTest : public ::testing::Test {
 protected:
  common::TimePoint now = at("2027-01-15T00:00:00Z");
  std::chrono::seconds staleness = hours(48);
  std::vector<Requirement> rootfs = {{"rootfs", v("2.4.0"), 7, at("2027-01-31T00:00:00Z")}};
  DeviceEvidence device{.last_seen = now - hours(1), .reported = true, .installed = {{"rootfs", {v("2.4.0"), 7}}}};

  Status status() { return evaluate_compliance(rootfs, device, staleness, now).status; }
};

TEST_F(ComplianceTest, EveryStatus) {
  EXPECT_EQ(status(), Status::kCompliant);
  device.installed["rootfs"] = {v("2.3.1"), 7};
  EXPECT_EQ(status(), Status::kOutdated);
  now = at("2027-01-31T00:00:00Z");  // the deadline
  device.last_seen = now;
  EXPECT_EQ(status(), Status::kOverdue);
  device.last_result["rootfs"] = "rolled_back";
  EXPECT_EQ(status(), Status::kFailed);
  device.pending.insert("rootfs");
  EXPECT_EQ(status(), Status::kPending);
  device.reported = false;
  EXPECT_EQ(status(), Status::kUnknown);
  device.last_seen = now - hours(49);
  EXPECT_EQ(status(), Status::kStale);
  device.tampered = true;
  EXPECT_EQ(status(), Status::kTampered);
}

TEST_F(ComplianceTest, PrecedenceConflicts) {
  // Tampered beats everything, even a compliant, fresh device.
  device.tampered = true;
  EXPECT_EQ(status(), Status::kTampered);
  device.tampered = false;
  // A stale device is stale whatever it last reported.
  device.last_seen = now - hours(48) - std::chrono::seconds(1);
  EXPECT_EQ(status(), Status::kStale);
  device.last_seen.reset();  // never seen
  EXPECT_EQ(status(), Status::kStale);
  device.last_seen = now;
  // Pending while a deployment runs, even when it already runs the version.
  device.pending.insert("rootfs");
  EXPECT_EQ(status(), Status::kPending);
  device.pending.clear();
  // A rolled-back device reports its real version: failed, not compliant.
  device.installed["rootfs"] = {v("2.3.1"), 6};
  device.last_result["rootfs"] = "rolled_back";
  auto verdict = evaluate_compliance(rootfs, device, staleness, now);
  EXPECT_EQ(verdict.status, Status::kFailed);
  EXPECT_EQ(verdict.components[0].reason, "the last update rolled_back");
  device.last_result["rootfs"] = "succeeded";
  EXPECT_EQ(status(), Status::kOutdated);
}

TEST_F(ComplianceTest, SecurityVersionAndMissingComponent) {
  device.installed["rootfs"] = {v("2.5.0"), 6};  // newer version, older security version
  auto verdict = evaluate_compliance(rootfs, device, staleness, now);
  EXPECT_EQ(verdict.status, Status::kOutdated);
  EXPECT_EQ(verdict.components[0].reason, "security version 6, needs 7");
  device.installed.erase("rootfs");
  verdict = evaluate_compliance(rootfs, device, staleness, now);
  EXPECT_EQ(verdict.components[0].reason, "does not report rootfs");
}

TEST_F(ComplianceTest, TheDeviceStatusIsItsWorstComponent) {
  rootfs.push_back({"wifi", v("1.2.0"), std::nullopt, at("2027-01-01T00:00:00Z")});
  device.installed["wifi"] = {v("1.1.0"), 1};
  auto verdict = evaluate_compliance(rootfs, device, staleness, now);
  ASSERT_EQ(verdict.components.size(), 2u);
  EXPECT_EQ(verdict.components[0].status, Status::kCompliant);
  EXPECT_EQ(verdict.components[1].status, Status::kOverdue);
  EXPECT_EQ(verdict.status, Status::kOverdue);
  EXPECT_EQ(status_name(verdict.status), "overdue");
}

TEST_F(ComplianceTest, NothingRequiredLeavesOnlyTheDeviceItself) {
  EXPECT_EQ(evaluate_compliance({}, device, staleness, now).status, Status::kCompliant);
  device.reported = false;
  EXPECT_EQ(evaluate_compliance({}, device, staleness, now).status, Status::kUnknown);
}

TEST(ComplianceRules, BaselineRulesCoverTheirTypes) {
  auto doc = common::Json::parse(R"({"name": "q4", "rules": [
      {"device_types": ["gw-x1", "gw-x2"], "component": "rootfs", "min_version": "2.4.0"},
      {"device_types": ["gw-x1"], "component": "wifi", "min_security_version": 2}]})");
  auto baseline = parse_baseline(doc);
  ASSERT_TRUE(baseline);
  EXPECT_EQ(requirements_for(*baseline, "gw-x1").size(), 2u);
  auto x2 = requirements_for(*baseline, "gw-x2");
  ASSERT_EQ(x2.size(), 1u);
  EXPECT_EQ(x2[0].component, "rootfs");
  EXPECT_TRUE(requirements_for(*baseline, "toaster").empty());
}

TEST(ComplianceRules, WithoutABaselineTheHighestCompatibleVersionIsRequired) {
  std::vector<PublishedBundle> bundles = {{"rootfs", v("2.4.0"), {"gw-x1", "gw-x2"}},
                                          {"rootfs", v("2.5.0-rc.1"), {"gw-x1"}},
                                          {"rootfs", v("2.6.0"), {"gw-x2"}},
                                          {"wifi", v("1.2.0"), {"gw-x1"}}};
  auto x1 = default_requirements(bundles, "gw-x1");
  ASSERT_EQ(x1.size(), 2u);
  EXPECT_EQ(x1[0].component, "rootfs");
  EXPECT_EQ(x1[0].min_version->text(), "2.4.0");  // the release candidate does not count
  EXPECT_EQ(x1[1].component, "wifi");
  auto x2 = default_requirements(bundles, "gw-x2");
  ASSERT_EQ(x2.size(), 1u);
  EXPECT_EQ(x2[0].min_version->text(), "2.6.0");
}

}  // namespace
}  // namespace flotilla::policy
