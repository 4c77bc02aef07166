#include "policy/units.hpp"

#include <gtest/gtest.h>

namespace flotilla::policy {
namespace {

using std::chrono::seconds;

TEST(Duration, ParsesUnitsAndCompounds) {
  EXPECT_EQ(parse_duration("90s"), seconds(90));
  EXPECT_EQ(parse_duration("15m"), seconds(900));
  EXPECT_EQ(parse_duration("6h"), seconds(21600));
  EXPECT_EQ(parse_duration("2d"), seconds(172800));
  EXPECT_EQ(parse_duration("1h30m"), seconds(5400));
  EXPECT_EQ(parse_duration("0s"), seconds(0));
}

TEST(Duration, RefusesMalformed) {
  for (const char* bad : {"", "5", "h", "1x", "1m1h", "1h1h", "-1h", "1.5h", "367d", " 1h", "1h "}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(Percent, ParsesToPartsPerMillion) {
  EXPECT_EQ(parse_percent("0%")->ppm, 0u);
  EXPECT_EQ(parse_percent("1%")->ppm, 10000u);
  EXPECT_EQ(parse_percent("2.5%")->ppm, 25000u);
  EXPECT_EQ(parse_percent("99.95%")->ppm, 999500u);
  EXPECT_EQ(parse_percent("100%")->ppm, 1000000u);
  for (const char* bad : {"", "%", "5", "101%", "100.01%", "-1%", "1.23456%", "05%", "1.%", ".5%", "1e2%"}) {
    EXPECT_FALSE(parse_percent(bad)) << bad;
  }
}

TEST(Percent, FormatsAndAppliesExactly) {
  EXPECT_EQ(format_percent(*parse_percent("2.5%")), "2.5%");
  EXPECT_EQ(format_percent(*parse_percent("10%")), "10%");
  EXPECT_EQ(format_percent(*parse_percent("0.0001%")), "0.0001%");
  EXPECT_EQ(parse_percent("1%")->of(7), 0);
  EXPECT_EQ(parse_percent("10%")->of(200), 20);
  EXPECT_EQ(parse_percent("100%")->of(12345), 12345);
}

TEST(TimeOfDayAndWeekday, Parse) {
  EXPECT_EQ(parse_time_of_day("01:00"), std::chrono::minutes(60));
  EXPECT_EQ(parse_time_of_day("23:59"), std::chrono::minutes(1439));
  for (const char* bad : {"24:00", "1:00", "01:60", "0100", ""}) EXPECT_FALSE(parse_time_of_day(bad)) << bad;
  EXPECT_EQ(parse_weekday("mon"), 0);
  EXPECT_EQ(parse_weekday("sun"), 6);
  EXPECT_FALSE(parse_weekday("Mon"));
}

}  // namespace
}  // namespace flotilla::policy
