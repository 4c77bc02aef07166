#include "policy/rollout_policy.hpp"

#include <gtest/gtest.h>

#include "policy/baseline.hpp"

namespace flotilla::policy {
namespace {

using common::Json;

// The example of DESIGN.md §7, verbatim.
const char* kDesignExample = R"({"name": "gw-os-2.4.0",
 "bundle": {"name": "gw-os", "version": "2.4.0"},
 "target": {"device_types": ["gw-x1"], "labels": {"region": "eu"},
            "exclude_labels": {"tier": "critical"}, "exclude_tampered": true},
 "waves": [
   {"name": "canary", "size": "1%",   "min_devices": 5, "soak": "2h", "success_threshold": "100%", "approval": "manual"},
   {"name": "early",  "size": "10%",  "soak": "6h", "success_threshold": "98%"},
   {"name": "all",    "size": "100%"}],
 "failure": {"max_failure_rate": "5%", "min_finished": 10, "action": "pause"},
 "pace": {"max_in_progress": 200, "max_starts_per_hour": 1000},
 "schedule": {"not_before": "2026-12-01T00:00:00Z",
              "windows": [{"days": ["sat", "sun"], "start": "01:00", "duration": "4h", "tz": "device"}],
              "windows_apply_to": "activate"},
 "deadline": "2027-01-31T00:00:00Z", "enforce_after_deadline": true,
 "device_timeout": "6h", "device_retries": 1, "allow_downgrade": false,
 "on_abort": {"rollback_bundle": {"name": "gw-os", "version": "2.3.1"}}})";

PolicyErrors errors_of(const Json& doc) {
  auto policy = parse_rollout_policy(doc);
  EXPECT_FALSE(policy);
  return policy ? PolicyErrors{} : policy.error();
}

TEST(RolloutPolicy, ParsesTheDesignExample) {
  auto policy = parse_rollout_policy(Json::parse(kDesignExample));
  ASSERT_TRUE(policy) << policy.error()[0].pointer << ": " << policy.error()[0].message;
  EXPECT_EQ(policy->bundle.version.text(), "2.4.0");
  EXPECT_EQ(policy->target.labels.at("region"), "eu");
  EXPECT_TRUE(policy->target.exclude_tampered);
  ASSERT_EQ(policy->waves.size(), 3u);
  EXPECT_EQ(policy->waves[0].size.ppm, 10000u);
  EXPECT_EQ(policy->waves[0].min_devices, 5);
  EXPECT_TRUE(policy->waves[0].manual_approval);
  EXPECT_EQ(policy->waves[1].soak, std::chrono::hours(6));
  EXPECT_EQ(policy->waves[2].success_threshold.ppm, 1000000u);  // default 100%
  EXPECT_EQ(policy->failure->action, FailureAction::kPause);
  EXPECT_EQ(policy->pace.max_in_progress, 200);
  EXPECT_EQ(policy->schedule.windows[0].days, (std::vector<int>{5, 6}));
  EXPECT_EQ(policy->schedule.windows[0].tz.kind, TimeZone::Kind::kDevice);
  EXPECT_EQ(policy->schedule.applies_to, Schedule::AppliesTo::kActivate);
  EXPECT_EQ(policy->device_retries, 1);
  EXPECT_EQ(policy->rollback_bundle->version.text(), "2.3.1");
}

TEST(RolloutPolicy, WaveSizesAreCumulative) {
  auto doc = Json::parse(kDesignExample);
  doc["waves"] = Json::parse(R"([{"name": "a", "size": "2%"}, {"name": "b", "size": "10%"}, {"name": "c", "size": "5%"}])");
  auto errors = errors_of(doc);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (PolicyError{Errc::kInconsistent, "/waves/2/size", "5% is smaller than the wave before it (10%); sizes are cumulative"}));
}

TEST(RolloutPolicy, ReportsEveryErrorAtOnce) {
  auto doc = Json::parse(kDesignExample);
  doc.erase("bundle");
  doc["device_timout"] = "6h";                       // typo
  doc["waves"][1]["soak"] = "six hours";
  doc["waves"][2]["name"] = "canary";                // duplicate
  doc["failure"]["action"] = "panic";
  doc["schedule"]["windows"][0]["days"] = {"sat", "funday"};
  doc["schedule"]["windows"][0]["tz"] = "Mars/Olympus Mons";
  auto errors = errors_of(doc);
  std::vector<std::string> pointers;
  for (const auto& e : errors) pointers.push_back(e.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/device_timout", "/bundle", "/waves/1/soak", "/waves/2/name",
                                                "/failure/action", "/schedule/windows/0/days/1",
                                                "/schedule/windows/0/tz"}));
  EXPECT_EQ(errors[0].message, "unknown key (a typo?)");
  EXPECT_EQ(errors[1].message, "is required");
  // Each refusal names its rule.
  std::vector<Errc> codes;
  for (const auto& e : errors) codes.push_back(e.code);
  EXPECT_EQ(codes, (std::vector<Errc>{Errc::kUnknownKey, Errc::kMissing, Errc::kBadValue, Errc::kDuplicate, Errc::kBadValue,
                                      Errc::kBadValue, Errc::kBadValue}));
}

TEST(RolloutPolicy, CrossFieldRules) {
  auto doc = Json::parse(kDesignExample);
  doc["failure"]["action"] = "abort_and_rollback";
  doc.erase("on_abort");
  doc["enforce_after_deadline"] = true;
  doc.erase("deadline");
  auto errors = errors_of(doc);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].pointer, "/enforce_after_deadline");
  EXPECT_EQ(errors[1].pointer, "/on_abort/rollback_bundle");
  EXPECT_EQ(errors[1].code, Errc::kMissing);

  auto early = Json::parse(kDesignExample);
  early["deadline"] = "2026-11-01T00:00:00Z";
  EXPECT_EQ(errors_of(early)[0].pointer, "/deadline");
  EXPECT_EQ(errors_of(early)[0].code, Errc::kInconsistent);
}

TEST(RolloutPolicy, RangesAndTypes) {
  auto doc = Json::parse(kDesignExample);
  doc["device_retries"] = 11;
  doc["waves"][0]["min_devices"] = -1;
  doc["waves"][0]["size"] = "0%";
  doc["pace"]["max_in_progress"] = 1.5;
  doc["allow_downgrade"] = "no";
  doc["target"]["device_types"] = Json::array();
  auto errors = errors_of(doc);
  EXPECT_EQ(errors.size(), 6u);
  for (const auto& e : errors) {
    EXPECT_TRUE(e.code == Errc::kOutOfRange || e.code == Errc::kWrongType) << e.pointer << ": " << e.message;
  }
  auto not_object = parse_rollout_policy(Json::array());
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error()[0], (PolicyError{Errc::kNotObject, "", "must be an object"}));
}

TEST(TimeZones, AllFourKinds) {
  EXPECT_EQ(parse_time_zone("UTC")->kind, TimeZone::Kind::kUtc);
  EXPECT_EQ(parse_time_zone("device")->kind, TimeZone::Kind::kDevice);
  EXPECT_EQ(parse_time_zone("+05:30")->offset, std::chrono::minutes(330));
  EXPECT_EQ(parse_time_zone("-08:00")->offset, std::chrono::minutes(-480));
  EXPECT_EQ(parse_time_zone("Europe/Berlin")->name, "Europe/Berlin");
  EXPECT_EQ(parse_time_zone("America/Argentina/Buenos_Aires")->kind, TimeZone::Kind::kIana);
  for (const char* bad : {"", "+5:30", "+15:00", "Europe/../etc", "/etc/passwd", "Mars Base", "+05:30x"}) {
    EXPECT_FALSE(parse_time_zone(bad)) << bad;
  }
}

TEST(Baseline, ParsesTheDesignExampleAndRefusesAmbiguity) {
  auto baseline = parse_baseline(Json::parse(R"({"name": "2026-Q4", "rules": [{"device_types": ["gw-x1"],
      "component": "rootfs", "min_version": "2.4.0", "min_security_version": 7,
      "deadline": "2027-01-31T00:00:00Z"}], "max_staleness": "48h"})"));
  ASSERT_TRUE(baseline);
  EXPECT_EQ(baseline->rules[0].min_version->text(), "2.4.0");
  EXPECT_EQ(baseline->max_staleness, std::chrono::hours(48));

  auto overlapping = parse_baseline(Json::parse(R"({"name": "q", "rules": [
      {"device_types": ["gw-x1"], "component": "rootfs", "min_version": "2.4.0"},
      {"device_types": ["gw-x2", "gw-x1"], "component": "rootfs", "min_version": "2.5.0"},
      {"device_types": ["gw-x1"], "component": "wifi"}]})"));
  ASSERT_FALSE(overlapping);
  ASSERT_EQ(overlapping.error().size(), 2u);
  EXPECT_EQ(overlapping.error()[0].pointer, "/rules/1/device_types/1");
  EXPECT_EQ(overlapping.error()[0].code, Errc::kDuplicate);
  EXPECT_EQ(overlapping.error()[1], (PolicyError{Errc::kMissing, "/rules/2", "needs min_version or min_security_version"}));
}

}  // namespace
}  // namespace flotilla::policy
