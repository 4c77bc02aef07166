#include "artifacts/writer.hpp"

#include <gtest/gtest.h>

#include "artifacts/errors.hpp"
#include "artifacts/reader.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::artifacts {
namespace {

class WriterTest : public ::testing::Test {
 protected:
  testing::TrustSetup trust;
  testing::TempDir dir;
};

TEST_F(WriterTest, EntriesAreTheManifestThenPayloadsInOrder) {
  testing::write_text(dir / "one", "1");
  testing::write_text(dir / "two", "22");
  Payload a{.name = "one", .type = PayloadType::kModule, .module = "m"};
  Payload b{.name = "two", .type = PayloadType::kModule, .module = "m"};
  BundleSpec spec{testing::sample_manifest(), {{b, dir / "two"}, {a, dir / "one"}}};
  auto written = write_bundle(spec, {&trust.release_key}, dir / "out.flb");
  ASSERT_TRUE(written) << written.error().describe();
  auto source = *FileSource::open((dir / "out.flb").string());
  auto inspection = inspect_bundle(*source);
  ASSERT_TRUE(inspection);
  ASSERT_EQ(inspection->entries.size(), 3u);
  EXPECT_EQ(inspection->entries[0].path, "manifest.dsse.json");
  EXPECT_EQ(inspection->entries[1].path, "payloads/two");
  EXPECT_EQ(inspection->entries[2].path, "payloads/one");
  EXPECT_EQ(inspection->bundle_id, written->bundle_id);
  EXPECT_EQ(written->manifest.payloads[0].size, 2u);
}

TEST_F(WriterTest, RefusesInvalidSpecsAndLeavesNoFile) {
  testing::write_text(dir / "x", "x");
  Payload bad_path{.name = "x", .type = PayloadType::kFile, .path = "relative/path"};
  BundleSpec spec{testing::sample_manifest(), {{bad_path, dir / "x"}}};
  auto written = write_bundle(spec, {&trust.release_key}, dir / "out.flb");
  ASSERT_FALSE(written);
  EXPECT_TRUE(written.error().is(Errc::kBadInput));
  EXPECT_FALSE(std::filesystem::exists(dir / "out.flb"));
  EXPECT_FALSE(std::filesystem::exists(dir / "out.flb.partial"));

  BundleSpec empty{testing::sample_manifest(), {}};
  EXPECT_TRUE(write_bundle(empty, {&trust.release_key}, dir / "out.flb").error().is(Errc::kBadInput));
  Payload ok{.name = "x", .type = PayloadType::kModule, .module = "m"};
  BundleSpec unsigned_spec{testing::sample_manifest(), {{ok, dir / "x"}}};
  EXPECT_TRUE(write_bundle(unsigned_spec, {}, dir / "out.flb").error().is(Errc::kBadInput));
  BundleSpec missing{testing::sample_manifest(), {{ok, dir / "nope"}}};
  EXPECT_TRUE(write_bundle(missing, {&trust.release_key}, dir / "out.flb").error().is(Errc::kIo));
}

TEST_F(WriterTest, ReportsProgressUpToTheTotal) {
  testing::write_text(dir / "x", std::string(5000, 'x'));
  Payload p{.name = "x", .type = PayloadType::kModule, .module = "m"};
  BundleSpec spec{testing::sample_manifest(), {{p, dir / "x"}}};
  std::uint64_t last_done = 0, last_total = 0;
  auto written = write_bundle(spec, {&trust.release_key}, dir / "out.flb",
                              [&](std::uint64_t done, std::uint64_t total) {
                                EXPECT_GE(done, last_done);
                                last_done = done;
                                last_total = total;
                              });
  ASSERT_TRUE(written);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, 10000u);
}

}  // namespace
}  // namespace flotilla::artifacts
