#include "common/json.hpp"

#include <gtest/gtest.h>

namespace flotilla::common {
namespace {

TEST(JsonStrict, ParsesAValidDocument) {
  auto doc = parse_json_strict(R"({"a": [1, {"b": "c"}], "d": null})");
  ASSERT_TRUE(doc) << doc.error().describe();
  EXPECT_EQ((*doc)["a"][1]["b"], "c");
}

TEST(JsonStrict, RejectsDuplicateKeysAtAnyDepth) {
  EXPECT_TRUE(parse_json_strict(R"({"a": 1, "a": 2})").error().is(Errc::kDuplicateKey));
  EXPECT_TRUE(parse_json_strict(R"({"x": [{"a": 1, "b": 2, "a": 1}]})").error().is(Errc::kDuplicateKey));
  // The same key in sibling objects is fine.
  EXPECT_TRUE(parse_json_strict(R"([{"a": 1}, {"a": 2}])"));
}

TEST(JsonStrict, RejectsDeepNestingTooLargeAndTrailingGarbage) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_TRUE(parse_json_strict(deep).error().is(Errc::kBadJson));
  EXPECT_TRUE(parse_json_strict("[1]", {.max_bytes = 2}).error().is(Errc::kTooLarge));
  EXPECT_TRUE(parse_json_strict("{} x").error().is(Errc::kBadJson));
  EXPECT_TRUE(parse_json_strict("\"\xff\"").error().is(Errc::kBadJson));
}

TEST(JsonObject, NamesTheFieldInEveryError) {
  auto doc = *parse_json_strict(R"({"n": 1.5, "s": 3, "big": 99, "nested": {"typo": 1}})");
  auto object = *JsonObject::of(doc, "");
  EXPECT_EQ(object.integer("n", 0, 10).error().message(), "/n: must be an integer");
  EXPECT_EQ(object.string("s").error().message(), "/s: must be a string");
  EXPECT_EQ(object.integer("big", 0, 10).error().message(), "/big: must be between 0 and 10");
  EXPECT_EQ(object.string("missing").error().message(), "/missing: is required");
  auto nested = *object.object("nested");
  auto unknown = nested.only_keys({"known"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "/nested/typo: unknown key");
  EXPECT_TRUE(unknown.error().is(Errc::kBadField));
}

TEST(JsonPointer, EscapesTildeAndSlash) {
  EXPECT_EQ(pointer_join("/a", "b/c~d"), "/a/b~1c~0d");
  EXPECT_EQ(pointer_join("/w", std::size_t{2}), "/w/2");
}

}  // namespace
}  // namespace flotilla::common
