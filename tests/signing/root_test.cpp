#include "signing/root.hpp"

#include <gtest/gtest.h>

#include "common/json.hpp"
#include "signing/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::signing {
namespace {

using testing::make_key;
using testing::make_root_json;
using testing::RootParts;
using testing::sign_root_payload;

class RootTest : public ::testing::Test {
 protected:
  PrivateKey root1 = make_key();
  PrivateKey root2 = make_key(Algorithm::kEcdsaP256);
  PrivateKey release = make_key();

  // A valid version-1 payload as JSON, for tests that then break one thing.
  common::Json payload_json(RootParts parts = {}) {
    if (parts.root_keys.empty()) parts.root_keys = {&root1};
    if (parts.release_keys.empty()) parts.release_keys = {&release};
    return common::Json::parse(root_payload(testing::root_spec(parts)));
  }
  common::Error load_error(const common::Json& payload) {
    auto root = TrustRoot::from_json(sign_root_payload(payload.dump(), {&root1}));
    EXPECT_FALSE(root);
    return root ? common::Error("test", 0, "unexpectedly valid") : root.error();
  }
};

TEST_F(RootTest, LoadsASelfSignedRoot) {
  auto root = TrustRoot::from_json(make_root_json({.root_keys = {&root1}, .release_keys = {&release}}, {&root1}));
  ASSERT_TRUE(root) << root.error().describe();
  EXPECT_EQ(root->version(), 1);
  EXPECT_EQ(root->release_role().keyids, std::vector<std::string>{release.key_id()});
  EXPECT_TRUE(root->check_current(common::now_utc()));
}

TEST_F(RootTest, MustBeSignedByItsOwnRootThreshold) {
  auto unsigned_by_root = make_root_json({.root_keys = {&root1}, .release_keys = {&release}}, {&release});
  EXPECT_TRUE(TrustRoot::from_json(unsigned_by_root).error().is(Errc::kThresholdNotMet));
  auto two_of_two = make_root_json(
      {.root_keys = {&root1, &root2}, .release_keys = {&release}, .root_threshold = 2}, {&root1, &root1});
  EXPECT_TRUE(TrustRoot::from_json(two_of_two).error().is(Errc::kThresholdNotMet));
  auto both = make_root_json(
      {.root_keys = {&root1, &root2}, .release_keys = {&release}, .root_threshold = 2}, {&root1, &root2});
  EXPECT_TRUE(TrustRoot::from_json(both));
}

TEST_F(RootTest, ThresholdZeroOrUnreachableIsRefused) {
  auto zero = payload_json();
  zero["roles"]["release"]["threshold"] = 0;
  EXPECT_TRUE(load_error(zero).is(Errc::kBadThreshold));
  auto unreachable = payload_json();
  unreachable["roles"]["release"]["threshold"] = 2;
  EXPECT_TRUE(load_error(unreachable).is(Errc::kBadThreshold));
}

TEST_F(RootTest, KeyIdMustBeTheHashOfTheKey) {
  auto doc = payload_json();
  // One key under a second, invented id: it could be counted twice.
  doc["keys"][std::string(64, 'a')] = doc["keys"][release.key_id()];
  doc["roles"]["release"]["keyids"].push_back(std::string(64, 'a'));
  doc["roles"]["release"]["threshold"] = 2;
  EXPECT_TRUE(load_error(doc).is(Errc::kKeyIdMismatch));
}

TEST_F(RootTest, DeclaredAlgorithmMustMatchTheKey) {
  auto doc = payload_json();
  doc["keys"][release.key_id()]["alg"] = "ecdsa-p256";
  EXPECT_TRUE(load_error(doc).is(Errc::kAlgorithmMismatch));
  doc["keys"][release.key_id()]["alg"] = "rsa";
  EXPECT_TRUE(load_error(doc).is(Errc::kUnsupportedAlgorithm));
}

TEST_F(RootTest, RoleListingAKeyTwiceOrAnUnknownKeyIsRefused) {
  auto twice = payload_json();
  twice["roles"]["release"]["keyids"].push_back(release.key_id());
  EXPECT_TRUE(load_error(twice).is(Errc::kBadRoot));
  auto unknown = payload_json();
  unknown["roles"]["release"]["keyids"] = {std::string(64, 'b')};
  EXPECT_TRUE(load_error(unknown).is(Errc::kBadRoot));
}

TEST_F(RootTest, ShapeErrorsNameTheField) {
  auto doc = payload_json();
  doc["extra"] = 1;
  auto error = load_error(doc);
  EXPECT_TRUE(error.is(Errc::kBadRoot));
  EXPECT_NE(error.message().find("/extra"), std::string::npos) << error.message();
  auto wrong_type = payload_json();
  wrong_type["type"] = "release";
  EXPECT_TRUE(load_error(wrong_type).is(Errc::kBadRoot));
  auto float_version = payload_json();
  float_version["version"] = 1.0;
  EXPECT_TRUE(load_error(float_version).is(Errc::kBadRoot));
}

TEST_F(RootTest, DuplicateJsonKeysAreRefused) {
  std::string text = payload_json().dump();
  text.insert(1, "\"version\": 9, ");
  auto root = TrustRoot::from_json(sign_root_payload(text, {&root1}));
  ASSERT_FALSE(root);
  EXPECT_TRUE(root.error().is(Errc::kBadRoot));
  EXPECT_NE(root.error().describe().find("twice"), std::string::npos);
}

TEST_F(RootTest, ExpiredRootIsNotCurrent) {
  auto root = TrustRoot::from_json(make_root_json(
      {.root_keys = {&root1}, .release_keys = {&release}, .expires = common::now_utc() - std::chrono::hours(1)},
      {&root1}));
  ASSERT_TRUE(root);
  EXPECT_TRUE(root->check_current(common::now_utc()).error().is(Errc::kRootExpired));
}

TEST_F(RootTest, ManifestEnvelopeIsNotARoot) {
  auto text = testing::sign_manifest(payload_json().dump(), root1);
  EXPECT_TRUE(TrustRoot::from_json(text).error().is(Errc::kWrongPayloadType));
}

class RotationTest : public RootTest {
 protected:
  PrivateKey next_root = make_key();
  TrustRoot v1 = *TrustRoot::from_json(make_root_json({.root_keys = {&root1}, .release_keys = {&release}}, {&root1}));
  std::string v2(std::vector<const PrivateKey*> signers, std::int64_t version = 2) {
    return make_root_json({.version = version, .root_keys = {&next_root}, .release_keys = {&release}}, signers);
  }
};

TEST_F(RotationTest, AcceptsNPlusOneSignedByOldAndNew) {
  auto rotated = v1.rotate_to(v2({&root1, &next_root}));
  ASSERT_TRUE(rotated) << rotated.error().describe();
  EXPECT_EQ(rotated->version(), 2);
  EXPECT_EQ(rotated->root_role().keyids, std::vector<std::string>{next_root.key_id()});
}

TEST_F(RotationTest, RefusesOnlyOldOrOnlyNewSignatures) {
  EXPECT_TRUE(v1.rotate_to(v2({&root1})).error().is(Errc::kBadRotation));
  EXPECT_TRUE(v1.rotate_to(v2({&next_root})).error().is(Errc::kBadRotation));
}

TEST_F(RotationTest, RefusesSkipsAndGoingBack) {
  EXPECT_TRUE(v1.rotate_to(v2({&root1, &next_root}, 3)).error().is(Errc::kBadRotation));
  auto same = make_root_json({.version = 1, .root_keys = {&root1}, .release_keys = {&release}}, {&root1});
  EXPECT_TRUE(v1.rotate_to(same).error().is(Errc::kBadRotation));
  auto v2_root = *v1.rotate_to(v2({&root1, &next_root}));
  EXPECT_TRUE(v2_root.rotate_to(v1.envelope_json()).error().is(Errc::kBadRotation));
}

TEST_F(RotationTest, OldThresholdMustBeMetNotJustOneKey) {
  auto v1_two = *TrustRoot::from_json(make_root_json(
      {.root_keys = {&root1, &root2}, .release_keys = {&release}, .root_threshold = 2}, {&root1, &root2}));
  EXPECT_TRUE(v1_two.rotate_to(v2({&root1, &next_root})).error().is(Errc::kBadRotation));
  EXPECT_TRUE(v1_two.rotate_to(v2({&root1, &root2, &next_root})));
}

TEST_F(RotationTest, ExpiredIntermediateRootsMayBeWalked) {
  auto expired_v1 = *TrustRoot::from_json(make_root_json(
      {.root_keys = {&root1}, .release_keys = {&release}, .expires = common::now_utc() - std::chrono::hours(1)},
      {&root1}));
  auto rotated = expired_v1.rotate_to(v2({&root1, &next_root}));
  ASSERT_TRUE(rotated);
  EXPECT_TRUE(rotated->check_current(common::now_utc()));
}

}  // namespace
}  // namespace flotilla::signing
