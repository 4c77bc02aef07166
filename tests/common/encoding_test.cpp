#include "common/encoding.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

TEST(Utf8, AcceptsWellFormedAndRefusesTheRest) {
  for (std::string_view good : std::initializer_list<std::string_view>{"", "type", "gw-x1 é € \xF0\x9D\x84\x9E", "\xF4\x8F\xBF\xBF", std::string_view("a\0b", 3)}) {
    EXPECT_TRUE(is_valid_utf8(good)) << good;
  }
  for (std::string_view bad : std::initializer_list<std::string_view>{"\xFF", "%\xFF", "\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80",
                               "\xF0\x80\x80\x80", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE2\x82", "ok\xE2\x82\x41"}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

// The check agrees with the JSON library that refused to write such text
// (the compliance report's dump() that threw on a filter value).
TEST(Utf8, AgreesWithTheJsonWriterOnRandomBytes) {
  std::uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int valid = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string text(1 + next() % 6, '\0');
    for (auto& c : text) c = static_cast<char>(next() % 3 == 0 ? next() % 128 : 0x80 + next() % 128);
    bool dumps = true;
    try {
      (void)nlohmann::json(text).dump();
    } catch (const nlohmann::json::type_error&) {
      dumps = false;
    }
    ASSERT_EQ(is_valid_utf8(text), dumps) << testing::PrintToString(text);
    valid += dumps;
  }
  EXPECT_GT(valid, 1000);  // both kinds were drawn
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
