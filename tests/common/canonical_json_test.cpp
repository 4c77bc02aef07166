#include "common/canonical_json.hpp"

#include <gtest/gtest.h>

namespace flotilla::common {
namespace {

TEST(CanonicalJson, SortsKeysAndDropsWhitespace) {
  auto doc = Json::parse(R"({"b": [1, {"z": null, "a": true}], "a": "x", "c": -5})");
  EXPECT_EQ(*canonical_json(doc), R"({"a":"x","b":[1,{"a":true,"z":null}],"c":-5})");
}

TEST(CanonicalJson, EscapesAsJsonStringify) {
  Json doc = std::string("q\"b\\\b\f\n\r\t\x01\x1f/\x7f\xc3\xa9");
  EXPECT_EQ(*canonical_json(doc), "\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f/\x7f\xc3\xa9\"");
}

TEST(CanonicalJson, SortsByUtf16CodeUnits) {
  // RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
  Json doc = Json::object();
  doc["\xef\xac\xb3"] = 1;          // U+FB33
  doc["\xf0\x9f\x98\x80"] = 2;      // U+1F600
  EXPECT_EQ(*canonical_json(doc), "{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":1}");
}

TEST(CanonicalJson, RefusesFloats) {
  EXPECT_TRUE(canonical_json(Json::parse(R"({"x": 1.5})")).error().is(Errc::kBadField));
}

}  // namespace
}  // namespace flotilla::common
