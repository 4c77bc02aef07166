#include "common/time.hpp"

#include <gtest/gtest.h>

namespace flotilla::common {
namespace {

TEST(Rfc3339, ParsesAndFormatsUtc) {
  auto t = parse_rfc3339("2026-11-24T19:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->time_since_epoch().count(), 1795546800);
  EXPECT_EQ(format_rfc3339(*t), "2026-11-24T19:00:00Z");
}

TEST(Rfc3339, AppliesOffsetsAndDropsFractions) {
  EXPECT_EQ(*parse_rfc3339("2026-11-25T00:30:00.123+05:30"), *parse_rfc3339("2026-11-24T19:00:00Z"));
  EXPECT_EQ(*parse_rfc3339("2026-11-24T14:00:00-05:00"), *parse_rfc3339("2026-11-24T19:00:00Z"));
}

TEST(Rfc3339, RejectsMalformed) {
  for (const char* bad : {"", "2026-11-24", "2026-11-24T19:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T19:00:00Zx",
                          "2026-11-24 19:00:00Z", "2026-11-24T19:00:00+5:30", "2026-11-24T19:00:00.Z"}) {
    auto t = parse_rfc3339(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_TRUE(t.error().is(Errc::kBadTime)) << bad;
  }
}

}  // namespace
}  // namespace flotilla::common
