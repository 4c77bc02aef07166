// The agent as a device runs it, through its binary: file-backed slots,
// the file bootloader, a trust root and signed bundles made per test.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "artifacts/writer.hpp"
#include "common/json.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {

struct AgentRun {
  int code;
  std::string out, err;
};

class AgentTest : public ::testing::Test {
 protected:
  TempDir dir;
  TrustSetup trust;
  common::Json config;
  std::string slot_a_before;  // the factory slot, byte for byte

  void SetUp() override {
    write_text(dir / "root.json", trust.root_json);
    config = {{"device", {{"type", "gw-x1"}, {"identity", {{"serial", "T1"}}}}},
              {"state_dir", (dir / "state").string()},
              {"trust_root", (dir / "root.json").string()},
              {"initial_versions", {{"rootfs", {{"version", "2.3.0"}, {"security_version", 7}}}}},
              {"slots", {{"rootfs", {{"a", (dir / "slot-a").string()}, {"b", (dir / "slot-b").string()}, {"kind", "file"}}}}},
              {"bootloader", {{"type", "file"}, {"path", (dir / "bootenv.json").string()}}},
              {"health_checks", {{{"command", {"/bin/sh", "-c", "test ! -e " + (dir / "unhealthy").string()}},
                                  {"timeout", "10s"}}}}};
    make_file_slot(dir / "slot-a", "factory image");
    make_file_slot(dir / "slot-b", "");
    slot_a_before = read_text(dir / "slot-a");
    write_config();
  }
  void write_config() { write_text(dir / "agent.json", config.dump()); }

  AgentRun agent(const std::string& args, const std::string& env = "") {
    std::string command = env + " " + std::string(FLOTILLA_AGENT) + " " + args + " --config '" + (dir / "agent.json").string() +
                          "' > '" + (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
    int code = run_shell(command);
    return {code, read_text(dir / "out"), read_text(dir / "err")};
  }
  common::Json status() {
    auto run = agent("status --json");
    EXPECT_EQ(run.code, 0) << run.err;
    return common::Json::parse(run.out);
  }

  // A bundle of `version` with a raw image (and optionally a file payload).
  std::filesystem::path bundle(const std::string& version, std::int64_t security = 7, const std::string& type = "gw-x1",
                               const std::string& file_dest = "") {
    auto m = sample_manifest();
    m.version = *common::Version::parse(version);
    m.security_version = security;
    m.compatible = {type};
    write_text(dir / "image", "rootfs image " + version + std::string(100000, 'x'));
    std::vector<artifacts::PayloadInput> payloads = {
        {{.name = "image", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"}, dir / "image"}};
    if (!file_dest.empty()) {
      write_text(dir / "app.conf", "config of " + version);
      payloads.push_back({{.name = "app.conf", .type = artifacts::PayloadType::kFile, .path = file_dest, .mode = 0644},
                          dir / "app.conf"});
    }
    auto out = dir / ("b-" + version + "-" + std::to_string(security) + "-" + type + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({m, payloads}, {&trust.release_key}, out));
    return out;
  }
};

}  // namespace flotilla::testing
