#include "artifacts/manifest.hpp"

#include <gtest/gtest.h>

#include "artifacts/errors.hpp"
#include "common/json.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::artifacts {
namespace {

using common::Json;

Json valid_manifest() {
  return Json::parse(R"({
    "format": "flotilla-bundle/1", "name": "gw-os", "kind": "os", "component": "rootfs",
    "version": "2.4.0", "security_version": 7, "compatible": ["gw-x1", "gw-x2"],
    "requires": {"rootfs": ">=2.3.0 <3.0.0"}, "created": "2026-11-24T19:00:00Z",
    "reboot": "required",
    "payloads": [
      {"name": "rootfs.img", "type": "raw-image", "slot": "rootfs", "size": 1073741824,
       "sha256": "0000000000000000000000000000000000000000000000000000000000000000"},
      {"name": "wifi.ko", "type": "file", "path": "/lib/modules/extra/wifi.ko", "mode": "0644",
       "size": 4096, "sha256": "1111111111111111111111111111111111111111111111111111111111111111"},
      {"name": "modem.bin", "type": "module", "module": "modem-flasher", "size": 123,
       "sha256": "2222222222222222222222222222222222222222222222222222222222222222"}],
    "notes": "free text"})");
}

common::Result<Manifest> parse(const Json& doc) {
  std::string text = doc.dump();
  return parse_manifest(common::as_bytes(text));
}

TEST(Manifest, ParsesTheDesignExample) {
  auto m = parse(valid_manifest());
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ(m->name, "gw-os");
  EXPECT_EQ(m->kind, Kind::kOs);
  EXPECT_EQ(m->security_version, 7);
  ASSERT_EQ(m->payloads.size(), 3u);
  EXPECT_EQ(m->payloads[0].type, PayloadType::kRawImage);
  EXPECT_EQ(m->payloads[0].size, 1073741824u);
  EXPECT_EQ(m->payloads[1].mode, 0644u);
  EXPECT_EQ(m->payloads[2].module, "modem-flasher");
  EXPECT_TRUE(m->requires_[0].range.contains(*common::Version::parse("2.3.5")));
  EXPECT_TRUE(m->reboot_required);
}

TEST(Manifest, SerializeRoundTrips) {
  auto m = *parse(valid_manifest());
  auto again = parse_manifest(common::as_bytes(serialize_manifest(m)));
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(serialize_manifest(*again), serialize_manifest(m));
}

TEST(Manifest, SwuPayloadsStandAlone) {
  auto doc = valid_manifest();
  Json swu = {{"name", "app.swu"}, {"type", "swu"}, {"size", 10},
              {"sha256", "3333333333333333333333333333333333333333333333333333333333333333"}};
  doc["payloads"] = Json::array({swu});
  auto parsed = parse(doc);
  ASSERT_TRUE(parsed) << parsed.error().describe();
  EXPECT_EQ(parsed->payloads[0].type, PayloadType::kSwu);
  EXPECT_EQ(serialize_manifest(*parse_manifest(common::as_bytes(serialize_manifest(*parsed)))), serialize_manifest(*parsed));
  // With anything for flotilla-agent: refused, by where.
  doc["payloads"].push_back(valid_manifest()["payloads"][0]);
  auto mixed = parse(doc);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().describe().find("/payloads"), std::string::npos) << mixed.error().describe();
  // No key of another type.
  swu["slot"] = "rootfs";
  doc["payloads"] = Json::array({swu});
  EXPECT_FALSE(parse(doc));
}

struct BadCase {
  const char* pointer;  // JSON pointer to change
  Json value;           // new value; null with remove=true deletes
  bool remove;
  const char* expected_in_message;
};

TEST(Manifest, EveryInvalidFieldIsNamed) {
  const std::vector<BadCase> cases = {
      {"/format", "flotilla-bundle/2", false, "/format"},
      {"/name", "gw os", false, "/name"},
      {"/name", "..", false, "/name"},
      {"/kind", "kernel", false, "/kind"},
      {"/component", "", false, "/component"},
      {"/version", "2.4", false, "/version"},
      {"/security_version", -1, false, "/security_version"},
      {"/security_version", 7.5, false, "/security_version"},
      {"/security_version", "7", false, "/security_version"},
      {"/compatible", Json::array(), false, "/compatible"},
      {"/compatible/1", "gw-x1", false, "/compatible/1"},
      {"/requires/rootfs", ">=banana", false, "/requires/rootfs"},
      {"/created", "yesterday", false, "/created"},
      {"/reboot", "maybe", false, "/reboot"},
      {"/payloads", Json::array(), false, "/payloads"},
      {"/payloads/0/name", "../rootfs.img", false, "/payloads/0/name"},
      {"/payloads/0/name", "..", false, "/payloads/0/name"},
      {"/payloads/1/name", "rootfs.img", false, "/payloads/1/name"},
      {"/payloads/0/type", "tarball", false, "/payloads/0/type"},
      {"/payloads/0/sha256", "ABC", false, "/payloads/0/sha256"},
      {"/payloads/0/size", -5, false, "/payloads/0/size"},
      {"/payloads/0/path", "/etc/x", false, "/payloads/0/path"},
      {"/payloads/1/path", "lib/wifi.ko", false, "/payloads/1/path"},
      {"/payloads/1/path", "/lib/../etc/shadow", false, "/payloads/1/path"},
      {"/payloads/1/path", "/lib//wifi.ko", false, "/payloads/1/path"},
      {"/payloads/1/mode", "4755", false, "/payloads/1/mode"},
      {"/payloads/1/mode", "rwx", false, "/payloads/1/mode"},
      {"/payloads/2/module", "../../bin/sh", false, "/payloads/2/module"},
      {"/payloads/0/slot", Json(), true, "/payloads/0/slot"},
      {"/version", Json(), true, "/version"},
      {"/surprise", 1, false, "/surprise"},
  };
  for (const auto& c : cases) {
    Json doc = valid_manifest();
    Json::json_pointer pointer(c.pointer);
    if (c.remove) {
      doc[pointer.parent_pointer()].erase(pointer.back());
    } else {
      doc[pointer] = c.value;
    }
    auto m = parse(doc);
    ASSERT_FALSE(m) << c.pointer;
    EXPECT_TRUE(m.error().is(Errc::kBadManifest)) << c.pointer;
    EXPECT_NE(m.error().message().find(c.expected_in_message), std::string::npos)
        << c.pointer << ": " << m.error().message();
  }
}

TEST(Manifest, DuplicateKeysAreRefused) {
  std::string text = valid_manifest().dump();
  text.insert(1, "\"security_version\": 99, ");
  auto m = parse_manifest(common::as_bytes(text));
  ASSERT_FALSE(m);
  EXPECT_TRUE(m.error().is(Errc::kBadManifest));
}

TEST(Manifest, PayloadCountIsLimited) {
  Json doc = valid_manifest();
  Json many = Json::array();
  for (std::size_t i = 0; i <= kMaxPayloads; ++i) {
    many.push_back({{"name", "p" + std::to_string(i)}, {"type", "module"}, {"module", "m"},
                    {"size", 1}, {"sha256", std::string(64, '0')}});
  }
  doc["payloads"] = many;
  EXPECT_TRUE(parse(doc).error().is(Errc::kBadManifest));
}

}  // namespace
}  // namespace flotilla::artifacts
