// Hostile bundles, built byte by byte: every rejection rule of DESIGN.md §4
// and the known attacks on update clients. For each: the exact error, and
// that nothing reached a sink (or, for faults only visible after payload
// bytes streamed, that nothing was committed and every sink was aborted).
#include <gtest/gtest.h>

#include "artifacts/errors.hpp"
#include "artifacts/reader.hpp"
#include "signing/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/tar_builder.hpp"

namespace flotilla::artifacts {
namespace {

using testing::MemorySource;
using testing::RecordingSinkFactory;
using testing::TarBuilder;
using Type = TarBuilder::Type;

constexpr const char* kManifestName = "manifest.dsse.json";

class HostileBundleTest : public ::testing::Test {
 protected:
  testing::TrustSetup trust;
  std::vector<std::pair<std::string, std::string>> payloads = {{"a.img", std::string(2000, 'a')},
                                                               {"b.img", "bbbb"}};
  std::string manifest_text = testing::manifest_text_for(testing::sample_manifest(), payloads);
  std::string envelope = testing::sign_manifest(manifest_text, trust.release_key);

  // The honest archive, as a starting point.
  TarBuilder honest() {
    TarBuilder tar;
    tar.add(kManifestName, envelope);
    for (const auto& [name, content] : payloads) tar.add("payloads/" + name, content);
    return tar;
  }

  struct Outcome {
    common::Result<VerifiedBundle> result;
    RecordingSinkFactory sinks;
  };
  std::unique_ptr<Outcome> read(const std::string& archive) {
    auto outcome = std::make_unique<Outcome>(Outcome{common::fail(Errc::kIo, "not run"), {}});
    MemorySource source(archive);
    VerifyOptions options;
    options.root = &trust.root;
    options.now = common::now_utc();
    outcome->result = read_bundle(source, options, outcome->sinks);
    return outcome;
  }

  // Refused with `code` before any payload byte reached a sink.
  template <class Code>
  void expect_refused_untouched(const std::string& archive, Code code, const std::string& label) {
    auto outcome = read(archive);
    ASSERT_FALSE(outcome->result) << label;
    EXPECT_TRUE(outcome->result.error().is(code)) << label << ": " << outcome->result.error().describe();
    EXPECT_EQ(outcome->sinks.bytes_written(), 0u) << label;
    EXPECT_FALSE(outcome->sinks.any_committed()) << label;
  }

  // Refused with `code`, possibly after staging bytes: nothing committed,
  // every opened sink aborted.
  template <class Code>
  void expect_refused_uncommitted(const std::string& archive, Code code, const std::string& label) {
    auto outcome = read(archive);
    ASSERT_FALSE(outcome->result) << label;
    EXPECT_TRUE(outcome->result.error().is(code)) << label << ": " << outcome->result.error().describe();
    EXPECT_FALSE(outcome->sinks.any_committed()) << label;
    for (const auto& r : outcome->sinks.records()) EXPECT_TRUE(r->aborted) << label << " " << r->payload;
  }
};

TEST_F(HostileBundleTest, HonestArchiveIsAccepted) {
  auto outcome = read(honest().finish());
  ASSERT_TRUE(outcome->result) << outcome->result.error().describe();
  EXPECT_EQ(outcome->sinks.records()[0]->bytes, payloads[0].second);
}

TEST_F(HostileBundleTest, EntryBeforeTheManifest) {
  TarBuilder tar;
  tar.add("payloads/a.img", payloads[0].second).add(kManifestName, envelope);
  expect_refused_untouched(tar.finish(), Errc::kUnexpectedEntry, "payload first");
  TarBuilder junk;
  junk.add("README", "hi").add(kManifestName, envelope);
  expect_refused_untouched(junk.finish(), Errc::kUnexpectedEntry, "junk first");
}

TEST_F(HostileBundleTest, EmptyArchiveAndManifestOnly) {
  expect_refused_untouched(TarBuilder().finish(), Errc::kUnexpectedEntry, "empty");
  TarBuilder tar;
  tar.add(kManifestName, envelope);
  expect_refused_untouched(tar.finish(), Errc::kUnexpectedEntry, "no payloads");
}

TEST_F(HostileBundleTest, PayloadsOutOfManifestOrder) {
  TarBuilder tar;
  tar.add(kManifestName, envelope).add("payloads/b.img", "bbbb").add("payloads/a.img", payloads[0].second);
  expect_refused_untouched(tar.finish(), Errc::kUnexpectedEntry, "swapped");
}

TEST_F(HostileBundleTest, PayloadNotInTheManifest) {
  TarBuilder tar;
  tar.add(kManifestName, envelope).add("payloads/evil.sh", "rm -rf /");
  expect_refused_untouched(tar.finish(), Errc::kUnexpectedEntry, "unlisted");
}

TEST_F(HostileBundleTest, MissingPayload) {
  TarBuilder tar;
  tar.add(kManifestName, envelope).add("payloads/a.img", payloads[0].second);
  expect_refused_uncommitted(tar.finish(), Errc::kUnexpectedEntry, "b missing");
}

TEST_F(HostileBundleTest, ExtraEntryAfterThePayloads) {
  auto tar = honest();
  tar.add("payloads/c.img", "extra");
  expect_refused_uncommitted(tar.finish(), Errc::kUnexpectedEntry, "extra");
}

TEST_F(HostileBundleTest, DuplicateEntries) {
  TarBuilder twice_manifest;
  twice_manifest.add(kManifestName, envelope).add(kManifestName, envelope);
  expect_refused_untouched(twice_manifest.finish(), Errc::kDuplicateEntry, "manifest twice");
  TarBuilder twice_payload;
  twice_payload.add(kManifestName, envelope).add("payloads/a.img", payloads[0].second)
      .add("payloads/a.img", payloads[0].second);
  expect_refused_uncommitted(twice_payload.finish(), Errc::kDuplicateEntry, "payload twice");
  auto trailing = honest();
  trailing.add("payloads/b.img", "bbbb");
  expect_refused_uncommitted(trailing.finish(), Errc::kDuplicateEntry, "payload again at end");
}

TEST_F(HostileBundleTest, PathClimbingInEveryPosition) {
  const std::vector<std::string> names = {
      "../manifest.dsse.json", "..", "../..", "payloads/../manifest.dsse.json", "payloads/..",
      "payloads/../../etc/passwd", "a/../../b", "payloads/a.img/..",
      "payloads/" + std::string(60, 'x') + "/../../../../" + std::string(60, 'y'),  // pax path
  };
  for (const auto& name : names) {
    TarBuilder first;
    first.add(name, envelope);
    expect_refused_untouched(first.finish(), Errc::kUnsafePath, "first: " + name);
    TarBuilder second;
    second.add(kManifestName, envelope).add(name, payloads[0].second);
    expect_refused_untouched(second.finish(), Errc::kUnsafePath, "second: " + name);
  }
}

TEST_F(HostileBundleTest, AbsoluteNames) {
  for (const std::string name : {"/manifest.dsse.json", "/payloads/a.img", "/etc/passwd"}) {
    TarBuilder first;
    first.add(name, envelope);
    expect_refused_untouched(first.finish(), Errc::kUnsafePath, name);
    TarBuilder second;
    second.add(kManifestName, envelope).add(name, payloads[0].second);
    expect_refused_untouched(second.finish(), Errc::kUnsafePath, name);
  }
}

TEST_F(HostileBundleTest, LinksDirectoriesAndDevices) {
  struct Case {
    Type type;
    std::string link;
    const char* label;
  };
  const std::vector<Case> cases = {{Type::kSymlink, "/etc/shadow", "symlink"},
                                   {Type::kHardLink, "manifest.dsse.json", "hardlink"},
                                   {Type::kDirectory, "", "directory"},
                                   {Type::kCharDevice, "", "device"},
                                   {Type::kFifo, "", "fifo"}};
  for (const auto& c : cases) {
    TarBuilder as_manifest;
    as_manifest.add(kManifestName, "", c.type, c.link);
    expect_refused_untouched(as_manifest.finish(), Errc::kNotRegularFile, std::string(c.label) + " manifest");
    TarBuilder as_payload;
    as_payload.add(kManifestName, envelope).add("payloads/a.img", "", c.type, c.link);
    expect_refused_untouched(as_payload.finish(), Errc::kNotRegularFile, std::string(c.label) + " payload");
  }
}

TEST_F(HostileBundleTest, SizeOtherThanDeclared) {
  TarBuilder bigger;
  bigger.add(kManifestName, envelope).add("payloads/a.img", payloads[0].second + "X");
  expect_refused_untouched(bigger.finish(), Errc::kSizeMismatch, "oversize");
  TarBuilder smaller;
  smaller.add(kManifestName, envelope).add("payloads/a.img", payloads[0].second.substr(1));
  expect_refused_untouched(smaller.finish(), Errc::kSizeMismatch, "undersize");
  // A header claiming an enormous size is refused from the header alone.
  TarBuilder huge;
  huge.add(kManifestName, envelope).add("payloads/a.img", "", Type::kRegular, "", 1LL << 40);
  expect_refused_untouched(huge.finish(), Errc::kSizeMismatch, "huge");
}

TEST_F(HostileBundleTest, SameSizeWrongBytes) {
  std::string evil(payloads[0].second.size(), 'e');
  TarBuilder tar;
  tar.add(kManifestName, envelope).add("payloads/a.img", evil).add("payloads/b.img", "bbbb");
  auto outcome = read(tar.finish());
  ASSERT_FALSE(outcome->result);
  EXPECT_TRUE(outcome->result.error().is(Errc::kDigestMismatch));
  ASSERT_EQ(outcome->sinks.records().size(), 1u);
  EXPECT_FALSE(outcome->sinks.records()[0]->finished);
  EXPECT_FALSE(outcome->sinks.records()[0]->committed);
  EXPECT_TRUE(outcome->sinks.records()[0]->aborted);
}

TEST_F(HostileBundleTest, TruncatedArchives) {
  std::string whole = honest().finish();
  auto tar = honest();
  std::size_t manifest_end = 512 + (envelope.size() + 511) / 512 * 512;
  // Cut inside the manifest header, inside the manifest, inside a payload's
  // data and inside the last payload's padding.
  for (std::size_t cut : {std::size_t{100}, std::size_t{700}, manifest_end + 512 + 1000, tar.size() - 1}) {
    auto outcome = read(whole.substr(0, cut));
    ASSERT_FALSE(outcome->result) << cut;
    EXPECT_TRUE(outcome->result.error().is(Errc::kTruncated) || outcome->result.error().is(Errc::kUnexpectedEntry))
        << cut << ": " << outcome->result.error().describe();
    EXPECT_FALSE(outcome->sinks.any_committed()) << cut;
  }
  // Every signed byte present but the two zero end blocks missing: nothing
  // is lost, so this is accepted (docs/bundle-format.md says so).
  EXPECT_TRUE(read(whole.substr(0, tar.size()))->result);
  auto mid_payload = read(whole.substr(0, manifest_end + 512 + 1000));
  EXPECT_TRUE(mid_payload->result.error().is(Errc::kTruncated)) << mid_payload->result.error().describe();
}

TEST_F(HostileBundleTest, NotAnArchive) {
  expect_refused_untouched(std::string(4096, 'Z'), Errc::kBadArchive, "garbage");
  expect_refused_untouched("", Errc::kTruncated, "empty stream");
}

TEST_F(HostileBundleTest, ManifestOverOneMiB) {
  TarBuilder tar;
  tar.add(kManifestName, std::string((1 << 20) + 1, ' '));
  expect_refused_untouched(tar.finish(), Errc::kManifestTooLarge, "big manifest");
}

TEST_F(HostileBundleTest, ManifestSignedAsAnotherType) {
  TarBuilder tar;
  tar.add(kManifestName, testing::sign_manifest(manifest_text, trust.release_key, signing::kRootType));
  for (const auto& [name, content] : payloads) tar.add("payloads/" + name, content);
  expect_refused_untouched(tar.finish(), signing::Errc::kWrongPayloadType, "type confusion");
}

TEST_F(HostileBundleTest, ManifestSignedByAnUntrustedKey) {
  auto stranger = testing::make_key();
  TarBuilder tar;
  tar.add(kManifestName, testing::sign_manifest(manifest_text, stranger));
  for (const auto& [name, content] : payloads) tar.add("payloads/" + name, content);
  expect_refused_untouched(tar.finish(), signing::Errc::kThresholdNotMet, "stranger");
  // Signed by the root key: trusted, but not for releases.
  TarBuilder root_signed;
  root_signed.add(kManifestName, testing::sign_manifest(manifest_text, trust.root_key));
  expect_refused_untouched(root_signed.finish(), signing::Errc::kThresholdNotMet, "root key");
}

TEST_F(HostileBundleTest, SignedManifestWithDuplicateKeys) {
  std::string twice = manifest_text;
  twice.insert(1, "\"security_version\": 99, ");
  TarBuilder tar;
  tar.add(kManifestName, testing::sign_manifest(twice, trust.release_key));
  expect_refused_untouched(tar.finish(), Errc::kBadManifest, "duplicate keys");
}

TEST_F(HostileBundleTest, SignedManifestNamingAClimbingPayload) {
  auto m = testing::sample_manifest();
  std::string text = testing::manifest_text_for(m, {{"x", "data"}});
  auto pos = text.find("\"name\": \"x\"");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 11, "\"name\": \"..\"");
  TarBuilder tar;
  tar.add(kManifestName, testing::sign_manifest(text, trust.release_key)).add("payloads/..", "data");
  expect_refused_untouched(tar.finish(), Errc::kBadManifest, "payload ..");
}

TEST_F(HostileBundleTest, EcdsaSignatureWithTrailingBytes) {
  auto ecdsa = testing::make_key(signing::Algorithm::kEcdsaP256);
  auto root = *signing::TrustRoot::from_json(testing::make_root_json(
      {.root_keys = {&trust.root_key}, .release_keys = {&ecdsa}}, {&trust.root_key}));
  auto parsed = *signing::parse_envelope(testing::sign_manifest(manifest_text, ecdsa));
  parsed.signatures[0].sig.push_back(0);
  TarBuilder tar;
  tar.add(kManifestName, signing::serialize_envelope(parsed));
  for (const auto& [name, content] : payloads) tar.add("payloads/" + name, content);
  MemorySource source(tar.finish());
  RecordingSinkFactory sinks;
  VerifyOptions options;
  options.root = &root;
  options.now = common::now_utc();
  auto result = read_bundle(source, options, sinks);
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is(signing::Errc::kThresholdNotMet));
  EXPECT_EQ(sinks.bytes_written(), 0u);
}

// An endless stream after a valid start is cut: the reader stops at the
// sizes the signed manifest declares and never reads without bound.
class EndlessSource final : public ByteSource {
 public:
  explicit EndlessSource(std::string prefix) : prefix_(std::move(prefix)) {}
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override {
    std::size_t n = buffer.size();
    for (std::size_t i = 0; i < n; ++i) {
      buffer[i] = offset_ < prefix_.size() ? static_cast<std::uint8_t>(prefix_[offset_]) : 'E';
      ++offset_;
    }
    return n;
  }
  std::size_t offset_ = 0;

 private:
  std::string prefix_;
};

TEST_F(HostileBundleTest, EndlessStreamIsCut) {
  TarBuilder tar;
  tar.add(kManifestName, envelope).add("payloads/a.img", payloads[0].second);
  EndlessSource source(tar.truncated(tar.size()));
  RecordingSinkFactory sinks;
  VerifyOptions options;
  options.root = &trust.root;
  options.now = common::now_utc();
  auto result = read_bundle(source, options, sinks);
  ASSERT_FALSE(result);
  EXPECT_LT(source.offset_, std::size_t{8} << 20);
  EXPECT_FALSE(sinks.any_committed());
}

}  // namespace
}  // namespace flotilla::artifacts
