// Maintenance windows: on the local wall clock of UTC, fixed offsets, the
// device's reported offset and IANA zones (tzdata, across DST changes),
// windows crossing midnight, and what the engine does with them.
#include "policy/windows.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/time_zone.hpp"
#include "policy/engine.hpp"

namespace flotilla::policy {
namespace {

using common::Json;
using std::chrono::hours;
using std::chrono::minutes;

common::TimePoint at(const char* text) { return *common::parse_rfc3339(text); }

std::vector<Window> windows(const std::string& json) {
  auto doc = Json::parse(R"({"name": "p", "bundle": {"name": "gw-os", "version": "2.4.0"},
    "target": {"device_types": ["gw-x1"]}, "waves": [{"name": "all", "size": "100%"}],
    "schedule": {"windows": )" + json + "}}");
  auto policy = parse_rollout_policy(doc);
  EXPECT_TRUE(policy);
  return policy ? policy->schedule.windows : std::vector<Window>{};
}

ZoneOffsets tzdata() {
  auto db = std::make_shared<common::TimeZoneDb>();
  return [db](std::string_view zone, common::TimePoint t) -> std::optional<std::chrono::seconds> {
    auto offset = db->offset(zone, t);
    return offset ? std::optional(*offset) : std::nullopt;
  };
}

TEST(WindowsTest, UtcWindowIsHalfOpen) {
  auto w = windows(R"([{"days": ["sat"], "start": "01:00", "duration": "4h", "tz": "UTC"}])");
  EXPECT_FALSE(in_any_window(w, at("2026-11-28T00:59:59Z"), std::nullopt, {}));  // a Saturday
  EXPECT_TRUE(in_any_window(w, at("2026-11-28T01:00:00Z"), std::nullopt, {}));
  EXPECT_TRUE(in_any_window(w, at("2026-11-28T04:59:59Z"), std::nullopt, {}));
  EXPECT_FALSE(in_any_window(w, at("2026-11-28T05:00:00Z"), std::nullopt, {}));
  EXPECT_FALSE(in_any_window(w, at("2026-11-29T01:00:00Z"), std::nullopt, {}));  // Sunday
}

TEST(WindowsTest, WindowCrossingMidnightBelongsToTheDayItStarts) {
  auto w = windows(R"([{"days": ["fri"], "start": "22:00", "duration": "4h"}])");
  EXPECT_TRUE(in_any_window(w, at("2026-11-27T23:30:00Z"), std::nullopt, {}));   // Friday night
  EXPECT_TRUE(in_any_window(w, at("2026-11-28T01:59:59Z"), std::nullopt, {}));   // Saturday morning, same window
  EXPECT_FALSE(in_any_window(w, at("2026-11-28T02:00:00Z"), std::nullopt, {}));
  EXPECT_FALSE(in_any_window(w, at("2026-11-28T23:00:00Z"), std::nullopt, {}));  // Saturday night: no window
}

TEST(WindowsTest, FixedAndDeviceOffsets) {
  auto fixed = windows(R"([{"days": ["sat"], "start": "01:00", "duration": "1h", "tz": "+05:30"}])");
  EXPECT_TRUE(in_any_window(fixed, at("2026-11-27T19:30:00Z"), std::nullopt, {}));  // Sat 01:00 in +05:30
  EXPECT_FALSE(in_any_window(fixed, at("2026-11-28T01:00:00Z"), std::nullopt, {}));
  auto device = windows(R"([{"days": ["sat"], "start": "01:00", "duration": "1h", "tz": "device"}])");
  EXPECT_TRUE(in_any_window(device, at("2026-11-28T09:30:00Z"), minutes(-480), {}));  // 01:30 at -08:00
  EXPECT_FALSE(in_any_window(device, at("2026-11-28T09:30:00Z"), minutes(0), {}));
  // A device that never reported its offset is taken to run on UTC.
  EXPECT_TRUE(in_any_window(device, at("2026-11-28T01:30:00Z"), std::nullopt, {}));
  EXPECT_EQ(parse_utc_offset("+05:30"), minutes(330));
  EXPECT_EQ(parse_utc_offset("-08:00"), minutes(-480));
  EXPECT_FALSE(parse_utc_offset("Europe/Berlin"));
}

TEST(WindowsTest, IanaZoneFollowsTheWallClockAcrossDaylightSavingChanges) {
  auto w = windows(R"([{"days": ["sun"], "start": "01:00", "duration": "4h", "tz": "Europe/Berlin"}])");
  auto zones = tzdata();
  // 2026-10-25: clocks go back at 03:00 CEST. 01:00 CEST = 23:00Z the day
  // before; 05:00 CET = 04:00Z: the window lasts five real hours.
  EXPECT_FALSE(in_any_window(w, at("2026-10-24T22:59:59Z"), std::nullopt, zones));
  EXPECT_TRUE(in_any_window(w, at("2026-10-24T23:00:00Z"), std::nullopt, zones));
  EXPECT_TRUE(in_any_window(w, at("2026-10-25T03:59:59Z"), std::nullopt, zones));
  EXPECT_FALSE(in_any_window(w, at("2026-10-25T04:00:00Z"), std::nullopt, zones));
  // 2026-03-29: clocks go forward at 02:00 CET. 01:00 CET = 00:00Z,
  // 05:00 CEST = 03:00Z: three real hours.
  EXPECT_TRUE(in_any_window(w, at("2026-03-29T00:00:00Z"), std::nullopt, zones));
  EXPECT_TRUE(in_any_window(w, at("2026-03-29T02:59:59Z"), std::nullopt, zones));
  EXPECT_FALSE(in_any_window(w, at("2026-03-29T03:00:00Z"), std::nullopt, zones));
  auto next = next_window(w, at("2026-10-20T12:00:00Z"), std::nullopt, zones);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->start, at("2026-10-24T23:00:00Z"));
  EXPECT_EQ(next->end, at("2026-10-25T04:00:00Z"));
  // Without tzdata such a window never opens.
  EXPECT_FALSE(in_any_window(w, at("2026-10-24T23:30:00Z"), std::nullopt, {}));
}

TEST(WindowsTest, NextWindowInsideAndBefore) {
  auto w = windows(R"([{"days": ["sat", "sun"], "start": "01:00", "duration": "4h"}])");
  auto inside = next_window(w, at("2026-11-28T02:00:00Z"), std::nullopt, {});
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->start, at("2026-11-28T02:00:00Z"));
  EXPECT_EQ(inside->end, at("2026-11-28T05:00:00Z"));
  auto before = next_window(w, at("2026-11-28T06:00:00Z"), std::nullopt, {});
  ASSERT_TRUE(before);
  EXPECT_EQ(before->start, at("2026-11-29T01:00:00Z"));
}

class EngineWindowsTest : public ::testing::Test {
 protected:
  Snapshot snapshot;
  void SetUp() override {
    snapshot.rollout_id = "r";
    snapshot.bundle = {"rootfs", *common::Version::parse("2.4.0"), {}};
    for (int i = 0; i < 4; ++i) {
      snapshot.fleet.push_back({.id = "d" + std::to_string(i), .type = "gw-x1",
                                .versions = {{"rootfs", *common::Version::parse("2.3.0")}}});
    }
    snapshot.fleet[3].utc_offset = minutes(-480);  // this one is in California
  }
  RolloutPolicy policy(const std::string& schedule, const std::string& extra = "") {
    auto doc = Json::parse(R"({"name": "p", "bundle": {"name": "gw-os", "version": "2.4.0"},
      "target": {"device_types": ["gw-x1"]}, "waves": [{"name": "all", "size": "100%"}], "device_timeout": "6h",
      "schedule": )" + schedule + extra + "}");
    auto parsed = parse_rollout_policy(doc);
    EXPECT_TRUE(parsed);
    return *parsed;
  }
};

TEST_F(EngineWindowsTest, WindowsForAllHoldOffersOutsideThemUntilTheDeadline) {
  auto p = policy(R"({"windows": [{"days": ["sat"], "start": "01:00", "duration": "4h", "tz": "device"}],
                      "windows_apply_to": "all"})",
                  R"(, "deadline": "2026-12-10T00:00:00Z", "enforce_after_deadline": true)");
  auto e = evaluate(p, snapshot, at("2026-11-27T12:00:00Z"));  // Friday: nobody
  EXPECT_TRUE(e.offer.empty());
  EXPECT_EQ(e.held_by, "4 device(s) wait for their maintenance window");
  e = evaluate(p, snapshot, at("2026-11-28T02:00:00Z"));  // Saturday 02:00 UTC; d3's clock says Friday 18:00
  std::sort(e.offer.begin(), e.offer.end());  // offered in bucket order
  EXPECT_EQ(e.offer, (std::vector<std::string>{"d0", "d1", "d2"}));
  e = evaluate(p, snapshot, at("2026-11-28T09:30:00Z"));  // Saturday 01:30 in California
  EXPECT_EQ(e.offer, std::vector<std::string>{"d3"});
  e = evaluate(p, snapshot, at("2026-12-10T00:00:00Z"));  // past the deadline: windows stop applying
  EXPECT_EQ(e.offer.size(), 4u);
}

TEST_F(EngineWindowsTest, ActivateWindowsOfferAtOnceAndTimeTheDeviceFromItsWindow) {
  auto p = policy(R"({"windows": [{"days": ["sat"], "start": "01:00", "duration": "4h"}], "windows_apply_to": "activate"})");
  auto monday = at("2026-11-23T12:00:00Z");
  auto e = evaluate(p, snapshot, monday);
  EXPECT_EQ(e.offer.size(), 4u);  // download and install any time
  for (const auto& id : e.offer) snapshot.progress[id] = {DeviceState::kInstalling, monday, 1};
  // Friday: 4 days after the offer, but the window (Saturday 01:00) has
  // not come yet: no timeout. Saturday 07:01: 6 hours into it: timed out.
  EXPECT_TRUE(evaluate(p, snapshot, at("2026-11-27T12:00:00Z")).time_out.empty());
  EXPECT_TRUE(evaluate(p, snapshot, at("2026-11-28T07:00:00Z")).time_out.empty());
  EXPECT_EQ(evaluate(p, snapshot, at("2026-11-28T07:00:01Z")).time_out.size(), 4u);
}

}  // namespace
}  // namespace flotilla::policy
