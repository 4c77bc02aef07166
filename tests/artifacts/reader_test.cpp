// The reader on honest bundles: what it delivers, and the device checks.
#include "artifacts/reader.hpp"

#include <gtest/gtest.h>

#include "artifacts/errors.hpp"
#include "signing/digest.hpp"
#include "signing/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/tar_builder.hpp"

namespace flotilla::artifacts {
namespace {

using testing::MemorySource;
using testing::RecordingSinkFactory;

class ReaderTest : public ::testing::Test {
 protected:
  testing::TrustSetup trust;
  testing::TempDir dir;
  std::string image = std::string(300000, 'i') + "end";
  std::string driver = "driver bytes";

  std::string bundle(Manifest manifest = testing::sample_manifest(),
                     Compression compression = Compression::kNone,
                     std::vector<const signing::PrivateKey*> keys = {}) {
    testing::write_text(dir / "rootfs.img", image);
    testing::write_text(dir / "wifi.ko", driver);
    Payload raw{.name = "rootfs.img", .type = PayloadType::kRawImage, .slot = "rootfs"};
    Payload file{.name = "wifi.ko", .type = PayloadType::kFile, .path = "/lib/modules/wifi.ko", .mode = 0600};
    BundleSpec spec{manifest, {{raw, dir / "rootfs.img"}, {file, dir / "wifi.ko"}}, compression};
    if (keys.empty()) keys = {&trust.release_key};
    auto out = dir / "b.flb";
    std::filesystem::remove(out);
    auto written = write_bundle(spec, keys, out);
    EXPECT_TRUE(written) << written.error().describe();
    return testing::read_text(out);
  }

  VerifyOptions options() {
    VerifyOptions o;
    o.root = &trust.root;
    o.now = common::now_utc();
    return o;
  }

  DeviceContext device(const char* version = "2.3.0", std::int64_t security = 5) {
    return {"gw-x1", {{"rootfs", {*common::Version::parse(version), security}}}, false};
  }
};

TEST_F(ReaderTest, DeliversEveryPayloadAndCommitsAfterTheEnd) {
  MemorySource source(bundle());
  RecordingSinkFactory sinks;
  auto verified = read_bundle(source, options(), sinks);
  ASSERT_TRUE(verified) << verified.error().describe();
  ASSERT_EQ(sinks.records().size(), 2u);
  EXPECT_EQ(sinks.records()[0]->bytes, image);
  EXPECT_EQ(sinks.records()[1]->bytes, driver);
  for (const auto& r : sinks.records()) {
    EXPECT_TRUE(r->finished && r->committed);
    EXPECT_FALSE(r->aborted);
  }
  EXPECT_EQ(verified->manifest.payloads[1].mode, 0600u);
  EXPECT_EQ(verified->bundle_id, signing::sha256_hex(verified->envelope.payload));
}

// A download resumes inside a payload from where its data starts in the
// bundle's bytes: the offset must be exact, and absent when the bundle is
// compressed (no byte of it is a payload byte).
TEST_F(ReaderTest, NamesWhereEachPayloadsDataStartsInAnUncompressedBundle) {
  std::string plain = bundle();
  for (Compression compression : {Compression::kNone, Compression::kZstd}) {
    std::string data = compression == Compression::kNone ? plain : bundle(testing::sample_manifest(), compression);
    MemorySource source(data, 4096);
    RecordingSinkFactory sinks;
    auto o = options();
    std::vector<std::pair<std::size_t, std::optional<std::uint64_t>>> seen;
    o.on_payload = [&](std::size_t index, const Payload&, std::optional<std::uint64_t> offset) { seen.emplace_back(index, offset); };
    ASSERT_TRUE(read_bundle(source, o, sinks));
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].first, 0u);
    EXPECT_EQ(seen[1].first, 1u);
    if (compression != Compression::kNone) {
      EXPECT_FALSE(seen[0].second);
      EXPECT_FALSE(seen[1].second);
      continue;
    }
    ASSERT_TRUE(seen[0].second && seen[1].second);
    EXPECT_EQ(*seen[0].second % 512, 0u);
    EXPECT_EQ(data.substr(*seen[0].second, image.size()), image);
    EXPECT_EQ(data.substr(*seen[1].second, driver.size()), driver);
  }
}

TEST_F(ReaderTest, ReadsZstdGzipAndXzWholeArchiveCompression) {
  std::string zstd = bundle(testing::sample_manifest(), Compression::kZstd);
  EXPECT_LT(zstd.size(), image.size() / 10);
  std::string plain = bundle();
  testing::write_text(dir / "plain.flb", plain);
  for (const std::string tool : {"gzip", "xz"}) {
    ASSERT_EQ(std::system((tool + " -c " + (dir / "plain.flb").string() + " > " +
                           (dir / ("c." + tool)).string()).c_str()), 0);
  }
  for (const std::string& data :
       {zstd, testing::read_text(dir / "c.gzip"), testing::read_text(dir / "c.xz")}) {
    MemorySource source(data, 777);  // odd chunking on purpose
    RecordingSinkFactory sinks;
    auto verified = read_bundle(source, options(), sinks);
    ASSERT_TRUE(verified) << verified.error().describe();
    EXPECT_EQ(sinks.records()[0]->bytes, image);
  }
}

TEST_F(ReaderTest, DeviceChecksRunBeforeAnyPayloadByte) {
  struct Case {
    DeviceContext device;
    Errc expected;
  };
  DeviceContext other_type = device();
  other_type.device_type = "gw-x9";
  DeviceContext missing_component = device();
  missing_component.installed.clear();
  std::vector<Case> cases = {
      {other_type, Errc::kIncompatible},
      {device("2.2.0", 5), Errc::kRequirementNotMet},
      {missing_component, Errc::kRequirementNotMet},
      {device("2.3.0", 8), Errc::kSecurityVersionTooLow},
      {device("2.9.0", 7), Errc::kDowngrade},
  };
  std::string data = bundle();
  for (const auto& c : cases) {
    MemorySource source(data);
    RecordingSinkFactory sinks;
    auto o = options();
    o.device = c.device;
    auto verified = read_bundle(source, o, sinks);
    ASSERT_FALSE(verified);
    EXPECT_TRUE(verified.error().is(c.expected)) << verified.error().describe();
    EXPECT_TRUE(sinks.records().empty());
  }
}

TEST_F(ReaderTest, DowngradeWithEqualSecurityVersionNeedsAllowDowngrade) {
  std::string data = bundle();
  auto o = options();
  o.device = device("2.9.0", 7);
  o.device->allow_downgrade = true;
  MemorySource source(data);
  RecordingSinkFactory sinks;
  EXPECT_TRUE(read_bundle(source, o, sinks));
  // Even allowed, a downgrade never lowers the security version.
  o.device = device("2.9.0", 8);
  o.device->allow_downgrade = true;
  MemorySource again(data);
  EXPECT_TRUE(read_bundle(again, o, sinks).error().is(Errc::kSecurityVersionTooLow));
}

TEST_F(ReaderTest, DeviceTypeOnlyCheck) {
  std::string data = bundle();
  auto o = options();
  o.device_type = "gw-x2";
  MemorySource ok(data);
  RecordingSinkFactory sinks;
  EXPECT_TRUE(read_bundle(ok, o, sinks));
  o.device_type = "gw-x3";
  MemorySource bad(data);
  EXPECT_TRUE(read_bundle(bad, o, sinks).error().is(Errc::kIncompatible));
}

TEST_F(ReaderTest, ExpiredRootAcceptsNothing) {
  auto expired_json = testing::make_root_json({.root_keys = {&trust.root_key},
                                               .release_keys = {&trust.release_key},
                                               .expires = common::now_utc() - std::chrono::seconds(1)},
                                              {&trust.root_key});
  auto expired = *signing::TrustRoot::from_json(expired_json);
  MemorySource source(bundle());
  RecordingSinkFactory sinks;
  auto o = options();
  o.root = &expired;
  auto verified = read_bundle(source, o, sinks);
  ASSERT_FALSE(verified);
  EXPECT_TRUE(verified.error().is(signing::Errc::kRootExpired));
  EXPECT_EQ(source.consumed(), 0u);
}

TEST_F(ReaderTest, ReleaseThresholdIsEnforced) {
  auto second = testing::make_key(signing::Algorithm::kEcdsaP256);
  auto root_json = testing::make_root_json({.root_keys = {&trust.root_key},
                                            .release_keys = {&trust.release_key, &second},
                                            .release_threshold = 2},
                                           {&trust.root_key});
  auto root = *signing::TrustRoot::from_json(root_json);
  auto o = options();
  o.root = &root;
  RecordingSinkFactory sinks;
  MemorySource one(bundle(testing::sample_manifest(), Compression::kNone, {&trust.release_key}));
  EXPECT_TRUE(read_bundle(one, o, sinks).error().is(signing::Errc::kThresholdNotMet));
  MemorySource two(bundle(testing::sample_manifest(), Compression::kNone, {&trust.release_key, &second}));
  EXPECT_TRUE(read_bundle(two, o, sinks));
}

TEST_F(ReaderTest, InspectListsEntriesWithoutTrust) {
  MemorySource source(bundle());
  auto inspection = inspect_bundle(source);
  ASSERT_TRUE(inspection) << inspection.error().describe();
  ASSERT_TRUE(inspection->manifest);
  EXPECT_EQ(inspection->manifest->name, "gw-os");
  ASSERT_EQ(inspection->entries.size(), 3u);
  EXPECT_EQ(inspection->entries[1].path, "payloads/rootfs.img");
  EXPECT_EQ(inspection->envelope.signatures[0].keyid, trust.release_key.key_id());
}

}  // namespace
}  // namespace flotilla::artifacts
