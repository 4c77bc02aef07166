#include "signing/dsse.hpp"

#include <gtest/gtest.h>

#include <random>

#include "signing/dsse_file.hpp"

#include "signing/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::signing {
namespace {

using common::as_bytes;
using common::as_text;
using testing::make_key;

TEST(Dsse, PaeMatchesTheSpec) {
  // The DSSE protocol document's example.
  auto bytes = pae("http://example.com/HelloWorld", as_bytes("hello world"));
  EXPECT_EQ(as_text(bytes), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(Dsse, SignSerializeParseVerify) {
  auto key = make_key();
  auto envelope = sign_envelope(kManifestType, as_bytes("{\"a\":1}"), {&key});
  ASSERT_TRUE(envelope);
  auto parsed = parse_envelope(serialize_envelope(*envelope));
  ASSERT_TRUE(parsed) << parsed.error().describe();
  KeyRing ring{{key.key_id(), key.public_key()}};
  auto payload = verify_envelope(*parsed, kManifestType, ring, {key.key_id()}, 1);
  ASSERT_TRUE(payload);
  EXPECT_EQ(as_text(*payload), "{\"a\":1}");
}

TEST(Dsse, SignatureForOneTypeNeverVerifiesAsAnother) {
  auto key = make_key();
  auto envelope = *sign_envelope(kRootType, as_bytes("{}"), {&key});
  KeyRing ring{{key.key_id(), key.public_key()}};
  EXPECT_TRUE(verify_envelope(envelope, kManifestType, ring, {key.key_id()}, 1)
                  .error()
                  .is(Errc::kWrongPayloadType));
  // Relabelling the type breaks the signature, since PAE covers it.
  envelope.payload_type = std::string(kManifestType);
  EXPECT_TRUE(verify_envelope(envelope, kManifestType, ring, {key.key_id()}, 1)
                  .error()
                  .is(Errc::kThresholdNotMet));
}

TEST(Dsse, ThresholdCountsDistinctTrustedKeysOnce) {
  auto a = make_key();
  auto b = make_key(Algorithm::kEcdsaP256);
  auto stranger = make_key();
  KeyRing ring{{a.key_id(), a.public_key()}, {b.key_id(), b.public_key()}};
  std::vector<std::string> allowed{a.key_id(), b.key_id()};

  auto twice_a = *sign_envelope(kManifestType, as_bytes("x"), {&a, &a, &stranger});
  EXPECT_TRUE(verify_envelope(twice_a, kManifestType, ring, allowed, 2).error().is(Errc::kThresholdNotMet));
  EXPECT_TRUE(verify_envelope(twice_a, kManifestType, ring, allowed, 1));

  auto both = *sign_envelope(kManifestType, as_bytes("x"), {&a, &b});
  EXPECT_TRUE(verify_envelope(both, kManifestType, ring, allowed, 2));
  // A key in the ring but not allowed for this role does not count.
  EXPECT_TRUE(verify_envelope(both, kManifestType, ring, {a.key_id()}, 2).error().is(Errc::kThresholdNotMet));
  // A stranger's signature under a trusted key's id does not count.
  auto forged = *sign_envelope(kManifestType, as_bytes("x"), {&stranger});
  forged.signatures[0].keyid = a.key_id();
  EXPECT_TRUE(verify_envelope(forged, kManifestType, ring, allowed, 1).error().is(Errc::kThresholdNotMet));
}

TEST(Dsse, ThresholdZeroIsRefused) {
  auto a = make_key();
  auto envelope = *sign_envelope(kManifestType, as_bytes("x"), {&a});
  KeyRing ring{{a.key_id(), a.public_key()}};
  EXPECT_TRUE(verify_envelope(envelope, kManifestType, ring, {a.key_id()}, 0).error().is(Errc::kBadThreshold));
}

TEST(Dsse, TamperedPayloadFails) {
  auto a = make_key();
  auto envelope = *sign_envelope(kManifestType, as_bytes("{\"v\":1}"), {&a});
  envelope.payload.back() ^= 1;
  KeyRing ring{{a.key_id(), a.public_key()}};
  EXPECT_TRUE(verify_envelope(envelope, kManifestType, ring, {a.key_id()}, 1).error().is(Errc::kThresholdNotMet));
}

TEST(Dsse, ParserRejectsMalformedEnvelopes) {
  const char* cases[] = {
      "not json",
      "[]",
      R"({"payloadType": "t", "payload": "e30=", "signatures": []})",
      R"({"payloadType": "t", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "!!"}]})",
      R"({"payloadType": "t", "payload": "e3 0=", "signatures": [{"keyid": "k", "sig": "AA=="}]})",
      R"({"payloadType": "t", "payload": "e30=", "signatures": [{"keyid": "k"}]})",
      R"({"payloadType": "t", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}], "extra": 1})",
      R"({"payloadType": "t", "payloadType": "u", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]})",
      R"({"payloadType": 5, "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]})",
  };
  for (const char* text : cases) {
    auto parsed = parse_envelope(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_TRUE(parsed.error().is(Errc::kBadEnvelope)) << text;
  }
}

TEST(Dsse, ParserLimitsSignatureCount) {
  std::string sigs;
  for (std::size_t i = 0; i <= kMaxSignatures; ++i) sigs += std::string(i ? "," : "") + R"({"keyid": "k", "sig": "AA=="})";
  auto parsed = parse_envelope(R"({"payloadType": "t", "payload": "e30=", "signatures": [)" + sigs + "]}");
  EXPECT_TRUE(parsed.error().is(Errc::kBadEnvelope));
}

}  // namespace
}  // namespace flotilla::signing

namespace flotilla::signing {
namespace {

// The streamed envelope (dsse_file.hpp) is an ordinary one: every payload
// length (0, 1 and 2 bytes past a multiple of 3, larger than the writer's
// chunk), written in pieces of every size, verifies as the bytes given.
TEST(DsseFile, AStreamedEnvelopeVerifiesAsTheBytesWritten) {
  testing::TempDir dir;
  auto key = PrivateKey::generate(Algorithm::kEcdsaP256);
  ASSERT_TRUE(key);
  KeyRing ring{{key->key_id(), key->public_key()}};
  std::mt19937 random(7);
  for (std::size_t size : {0u, 1u, 2u, 3u, 4u, 196607u, 196608u, 196609u, 1000003u}) {
    std::string payload(size, '\0');
    for (auto& c : payload) c = static_cast<char>(random());
    auto writer = EnvelopeFileWriter::open(kReportType, dir / "out.json");
    ASSERT_TRUE(writer);
    for (std::size_t at = 0, piece = 1; at < payload.size(); at += piece, piece = piece * 3 + 1) {
      ASSERT_TRUE((*writer)->write(std::string_view(payload).substr(at, piece)));
    }
    ASSERT_TRUE((*writer)->finish(*key));
    auto parsed = parse_envelope(testing::read_text(dir / "out.json"), 8 << 20);
    ASSERT_TRUE(parsed) << size;
    auto verified = verify_envelope(*parsed, kReportType, ring, {key->key_id()}, 1);
    ASSERT_TRUE(verified) << size << ": " << verified.error().describe();
    EXPECT_EQ(common::as_text(*verified), payload) << size;
  }
}

}  // namespace
}  // namespace flotilla::signing
