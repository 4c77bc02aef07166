// IANA zones from the system's tzdata: transitions from the table, times
// past its end from the POSIX rule, both hemispheres, and bad input.
#include "common/time_zone.hpp"

#include <gtest/gtest.h>

#include "common/encoding.hpp"

namespace flotilla::common {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TimePoint at(const char* text) { return *parse_rfc3339(text); }

TEST(TimeZoneTest, BerlinSwitchesAtOneUtcOnTheLastSundays) {
  TimeZoneDb db;
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2026-03-29T00:59:59Z")), hours(1));
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2026-03-29T01:00:00Z")), hours(2));
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2026-10-25T00:59:59Z")), hours(2));
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2026-10-25T01:00:00Z")), hours(1));
  // Past the table (2037): the footer's rule decides, to the second.
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2045-03-26T00:59:59Z")), hours(1));
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2045-03-26T01:00:00Z")), hours(2));
  EXPECT_EQ(*db.offset("Europe/Berlin", at("2045-10-29T01:00:00Z")), hours(1));
}

TEST(TimeZoneTest, SouthernSummerSpansTheNewYear) {
  TimeZoneDb db;
  EXPECT_EQ(*db.offset("Australia/Sydney", at("2026-01-15T00:00:00Z")), hours(11));
  EXPECT_EQ(*db.offset("Australia/Sydney", at("2026-07-01T00:00:00Z")), hours(10));
  EXPECT_EQ(*db.offset("Australia/Sydney", at("2050-01-15T00:00:00Z")), hours(11));
  EXPECT_EQ(*db.offset("Australia/Sydney", at("2050-07-01T00:00:00Z")), hours(10));
  EXPECT_EQ(*db.offset("America/New_York", at("2026-07-01T12:00:00Z")), hours(-4));
  EXPECT_EQ(*db.offset("Asia/Kolkata", at("2026-07-01T12:00:00Z")), hours(5) + minutes(30));
  EXPECT_EQ(*db.offset("UTC", at("2026-07-01T12:00:00Z")), seconds(0));
}

TEST(TimeZoneTest, UnknownAndHostileNamesAreRefused) {
  TimeZoneDb db;
  EXPECT_TRUE(db.offset("Mars/Olympus_Mons", at("2026-07-01T12:00:00Z")).error().is(Errc::kNotFound));
  EXPECT_TRUE(db.offset("../../etc/passwd", at("2026-07-01T12:00:00Z")).error().is(Errc::kBadField));
  EXPECT_TRUE(db.offset("/etc/passwd", at("2026-07-01T12:00:00Z")).error().is(Errc::kBadField));
  EXPECT_FALSE(db.offset("", at("2026-07-01T12:00:00Z")));
}

TEST(TimeZoneTest, MalformedTzifIsRefused) {
  EXPECT_FALSE(Zone::parse(as_bytes("")));
  EXPECT_FALSE(Zone::parse(as_bytes("TZif2 but far too short")));
  EXPECT_FALSE(Zone::parse(as_bytes(std::string("TZif2") + std::string(39, '\0'))));  // no types
  // Found by fuzz_tzif: isutcnt and isstdcnt of 0xffffffff made the block
  // size wrap around, and the arrays were read past the end.
  std::string header = std::string("TZif1") + std::string(15, '\0');
  std::string counts = std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8) + std::string("\0\0\0\x01\0\0\0\x02\0\0\0\x01\0\0\0\x04", 16);
  EXPECT_FALSE(Zone::parse(as_bytes(header + counts + std::string(26, '\x15'))));  // the wrapped size fits
}

TEST(TimeZoneTest, PosixRules) {
  auto berlin = Zone::parse_rule("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(berlin);
  EXPECT_EQ(berlin->std_offset, 3600);
  EXPECT_EQ(berlin->dst_offset, 7200);
  EXPECT_EQ(berlin->end.time, 3 * 3600);
  auto tehran = Zone::parse_rule("<+0330>-3:30");
  ASSERT_TRUE(tehran);
  EXPECT_FALSE(tehran->has_dst);
  EXPECT_EQ(tehran->std_offset, 3 * 3600 + 30 * 60);
  EXPECT_FALSE(Zone::parse_rule("CET-1CEST,J60,J300"));  // only the Mm.w.d form
  EXPECT_FALSE(Zone::parse_rule("CET-1CEST,M13.5.0,M10.5.0"));
  EXPECT_FALSE(Zone::parse_rule("X"));
}

}  // namespace
}  // namespace flotilla::common
