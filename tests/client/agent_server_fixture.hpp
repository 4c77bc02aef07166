// flotilla-agent against the real server on loopback: a fixture with a
// device configured on file-backed slots (agent.json in the test's
// directory) and helpers to run it, deploy to it and check what the
// server heard.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "tests/support/server_fixture.hpp"

namespace flotilla {

class AgentServerTest : public testing::RunningServer {
 protected:
  common::Json config;
  std::unique_ptr<cli::ApiClient> admin;

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
    testing::write_text(dir / "enroll.token", enrollment_token() + "\n");
    testing::make_file_slot(dir / "slot-a", "factory image");
    testing::make_file_slot(dir / "slot-b", "");
    config = {{"server", {{"url", server->url()}}},
              {"device", {{"type", "gw-x1"}, {"identity", {{"serial", "AGENT-1"}}}}},
              {"enrollment_token_file", (dir / "enroll.token").string()},
              {"state_dir", (dir / "agent-state").string()},
              {"trust_root", (dir / "root.json").string()},
              {"initial_versions", {{"rootfs", {{"version", "2.3.0"}, {"security_version", 7}}}}},
              {"slots", {{"rootfs", {{"a", (dir / "slot-a").string()}, {"b", (dir / "slot-b").string()}, {"kind", "file"}}}}},
              {"bootloader", {{"type", "file"}, {"path", (dir / "bootenv.json").string()}}},
              {"reboot", {{"mode", "exit"}, {"exit_code", 77}}},
              {"poll_interval", {{"min", "1s"}, {"max", "60s"}}}};
    testing::write_text(dir / "agent.json", config.dump());
  }

  int agent(const std::string& args, const std::string& env = "") {
    return testing::run_shell(env + " " + std::string(FLOTILLA_AGENT) + " " + args + " --config '" + (dir / "agent.json").string() +
                              "' >> '" + (dir / "agent.log").string() + "' 2>&1");
  }
  // The agent's first round: enrolls and reports; returns the device.
  common::Json enrolled() {
    EXPECT_EQ(agent("run --once"), 0) << testing::read_text(dir / "agent.log");
    return only_device();
  }
  // A direct deployment of `bundle` to `device`; returns its id.
  std::int64_t deploy(const std::string& bundle, const common::Json& device) {
    auto created = admin->request("POST", "/api/v1/deployments", common::Json{{"bundle", bundle}, {"devices", {device["id"]}}}.dump());
    EXPECT_EQ(created->status, 201) << created->body;
    return created->status == 201 ? created->json()["id"].get<std::int64_t>() : 0;
  }
  // The server heard the device roll back, and its inventory says it runs
  // the old version from slot a again; returns the device view.
  common::Json expect_rolled_back_to_2_3_0(std::int64_t deployment, const common::Json& device) {
    auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
    EXPECT_EQ(shown["devices"][0]["state"], "rolled_back") << shown.dump();
    EXPECT_EQ(shown["devices"][0]["running_version"], "2.3.0") << shown.dump();
    auto view = admin->request("GET", "/api/v1/devices/" + device["id"].get<std::string>())->json();
    EXPECT_EQ(view["inventory"]["booted_slot"], "a");
    return view;
  }
  // Random bytes: a resume at a wrong offset cannot go unnoticed.
  static std::string random_image(std::size_t size, std::uint64_t seed) {
    std::string image(size, '\0');
    std::independent_bits_engine<std::mt19937, 8, unsigned> bytes(static_cast<std::uint32_t>(seed));
    std::generate(image.begin(), image.end(), [&] { return static_cast<char>(bytes()); });
    return image;
  }
  // Uploads a bundle of `image` (one raw image for slot class rootfs);
  // returns its file digest.
  std::string upload_image(const std::string& image) {
    testing::write_text(dir / "big.img", image);
    artifacts::Payload raw{.name = "rootfs.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
    EXPECT_TRUE(artifacts::write_bundle({testing::sample_manifest(), {{raw, dir / "big.img"}}}, {&trust.release_key},
                                        dir / "big.flb"));
    auto uploaded = admin->upload("/api/v1/bundles", dir / "big.flb");
    EXPECT_EQ(uploaded->status, 201) << uploaded->body;
    return uploaded->json()["file_sha256"];
  }
  common::Json only_device() {
    auto devices = admin->request("GET", "/api/v1/devices")->json()["devices"];
    EXPECT_EQ(devices.size(), 1u);
    return devices.empty() ? common::Json() : devices[0];
  }
};


}  // namespace flotilla
