#include "common/semver.hpp"

#include <gtest/gtest.h>

namespace flotilla::common {
namespace {

Version v(const char* text) {
  auto parsed = Version::parse(text);
  EXPECT_TRUE(parsed) << text;
  return *parsed;
}

TEST(Version, ParsesSemVer2) {
  auto version = v("1.22.333-rc.1+build.5");
  EXPECT_EQ(version.major(), 1u);
  EXPECT_EQ(version.minor(), 22u);
  EXPECT_EQ(version.patch(), 333u);
}

TEST(Version, RejectsInvalid) {
  for (const char* bad : {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+",
                          "v1.2.3", "1.2.3-a..b", "1.2.3 ", "-1.2.3", "1.2.3-é"}) {
    auto parsed = Version::parse(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_TRUE(parsed.error().is(Errc::kBadVersion)) << bad;
  }
}

TEST(Version, OrdersAsTheSpecSays) {
  // The precedence example of SemVer 2.0 §11.
  const char* ordered[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                           "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1",
                           "1.1.0", "2.0.0", "10.0.0"};
  for (std::size_t i = 0; i + 1 < std::size(ordered); ++i) {
    EXPECT_LT(v(ordered[i]), v(ordered[i + 1])) << ordered[i] << " < " << ordered[i + 1];
  }
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
}

TEST(VersionRange, AndOrAndExact) {
  auto range = *VersionRange::parse(">=2.3.0 <3.0.0 || =4.0.0");
  EXPECT_FALSE(range.contains(v("2.2.9")));
  EXPECT_TRUE(range.contains(v("2.3.0")));
  EXPECT_TRUE(range.contains(v("2.9.9")));
  EXPECT_FALSE(range.contains(v("3.0.0")));
  EXPECT_TRUE(range.contains(v("4.0.0")));
  EXPECT_TRUE(VersionRange::parse("1.2.3")->contains(v("1.2.3")));
  EXPECT_TRUE(VersionRange::parse(">1.0.0 <=1.0.1")->contains(v("1.0.1")));
}

TEST(VersionRange, RejectsInvalid) {
  for (const char* bad : {"", "||", ">=2.3.0 ||", ">=x", "~1.2.3", ">= 2.3.0"}) {
    auto parsed = VersionRange::parse(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_TRUE(parsed.error().is(Errc::kBadVersion)) << bad;
  }
}

}  // namespace
}  // namespace flotilla::common
