#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace flotilla::common {
namespace {

TEST(Hex, RoundTrips) {
  Bytes bytes = {0x00, 0x7f, 0xff, 0x10};
  EXPECT_EQ(to_hex(bytes), "007fff10");
  EXPECT_EQ(*from_hex("007fff10"), bytes);
}

TEST(Hex, RejectsOddLengthAndUppercase) {
  EXPECT_TRUE(from_hex("abc").error().is(Errc::kBadEncoding));
  EXPECT_TRUE(from_hex("AB").error().is(Errc::kBadEncoding));
  EXPECT_TRUE(from_hex("zz").error().is(Errc::kBadEncoding));
}

TEST(Hex, RecognisesSha256) {
  EXPECT_TRUE(is_sha256_hex(std::string(64, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));
}

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(to_base64(as_bytes("")), "");
  EXPECT_EQ(to_base64(as_bytes("f")), "Zg==");
  EXPECT_EQ(to_base64(as_bytes("fo")), "Zm8=");
  EXPECT_EQ(to_base64(as_bytes("foo")), "Zm9v");
  EXPECT_EQ(to_base64(as_bytes("foobar")), "Zm9vYmFy");
}

TEST(Base64, DecodesStandardAndUrlSafeWithOrWithoutPadding) {
  Bytes expected = {0xfb, 0xff};
  EXPECT_EQ(*from_base64("+/8="), expected);
  EXPECT_EQ(*from_base64("-_8="), expected);
  EXPECT_EQ(*from_base64("-_8"), expected);
  EXPECT_EQ(as_text(*from_base64("Zm9vYmFy")), "foobar");
}

TEST(Base64, RejectsGarbage) {
  for (const char* bad : {"Zm9v YmFy", "Zm9v\n", "Zg=", "Z", "Zg==Zg==", "+_8=", "Zm9v!", "===="}) {
    auto decoded = from_base64(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_TRUE(decoded.error().is(Errc::kBadEncoding)) << bad;
  }
}

}  // namespace
}  // namespace flotilla::common
