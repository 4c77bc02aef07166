// A device key in a TPM (swtpm here): the agent creates a P-256 key inside
// the TPM at its first start, keeps only the TPM's wrapped blob on disk,
// and signs enrollment, inventory and events with it against the real
// server. The same state directory on another TPM authenticates as nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "signing/key.hpp"
#include "tests/client/agent_server_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/swtpm_process.hpp"

namespace flotilla {
namespace {

using testing::read_text;

class AgentTpmTest : public AgentServerTest {
 protected:
  std::unique_ptr<testing::SwtpmProcess> tpm;

  void SetUp() override {
    AgentServerTest::SetUp();
    tpm = std::make_unique<testing::SwtpmProcess>(dir / "tpm-a");
    config["device_key"] = {{"provider", "tpm2"}, {"tcti", tpm->tcti()}};
    testing::write_text(dir / "agent.json", config.dump());
  }
};

TEST_F(AgentTpmTest, AKeyMadeInTheTpmEnrollsReportsAndInstalls) {
  auto device = enrolled();
  auto blob = read_text(dir / "agent-state" / "device.tpm.pem");
  EXPECT_NE(blob.find("-----BEGIN TSS2 PRIVATE KEY-----"), std::string::npos) << blob;
  EXPECT_FALSE(std::filesystem::exists(dir / "agent-state" / "device.key"));  // no software key beside it
  auto view = admin->request("GET", "/api/v1/devices/" + device["id"].get<std::string>())->json();
  auto key = signing::PublicKey::from_pem(view["public_key"].get<std::string>());
  ASSERT_TRUE(key) << view.dump();
  EXPECT_EQ(key->algorithm(), signing::Algorithm::kEcdsaP256);
  EXPECT_EQ(key->key_id(), device["id"]);
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.3.0") << view.dump();  // a signed report accepted

  // Every event of the update is signed by the TPM and accepted.
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), device);
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump() << read_text(dir / "agent.log");
  // Loaded again at every start: the same identity.
  EXPECT_EQ(only_device()["id"], device["id"]);
}

TEST_F(AgentTpmTest, TheStateCopiedToAnotherTpmCannotAuthenticate) {
  auto device = enrolled();
  // Another device: its own TPM, a copy of the first one's state (key
  // blob, token, everything).
  testing::SwtpmProcess other(dir / "tpm-b");
  std::filesystem::copy(dir / "agent-state", dir / "copied-state", std::filesystem::copy_options::recursive);
  auto copy = config;
  copy["state_dir"] = (dir / "copied-state").string();
  copy["device_key"]["tcti"] = other.tcti();
  testing::write_text(dir / "copy.json", copy.dump());
  int code = testing::run_shell(std::string(FLOTILLA_AGENT) + " run --once --config '" + (dir / "copy.json").string() +
                                "' > '" + (dir / "copy.log").string() + "' 2>&1");
  EXPECT_EQ(code, 1);
  EXPECT_NE(read_text(dir / "copy.log").find("the TPM cannot load"), std::string::npos) << read_text(dir / "copy.log");
  EXPECT_EQ(admin->request("GET", "/api/v1/devices")->json()["devices"].size(), 1u);
  // The device itself, on its own TPM, goes on.
  EXPECT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
}

// A device maker's persistent key (made here with tpm2-tools, as on a
// production line) is used as it is: nothing is created or stored.
TEST_F(AgentTpmTest, APersistentKeyAtAHandleIsUsedAsItIs) {
  // tpm2-tools without a resource manager: transient objects are flushed
  // between the steps.
  std::string tools = "cd '" + dir.path().string() + "' && export TPM2TOOLS_TCTI='" + tpm->tcti() + "' && " +
                      "tpm2_createprimary -Q -C o -g sha256 -G ecc256 -c primary.ctx && "
                      "tpm2_create -Q -C primary.ctx -G ecc256:ecdsa-sha256 -u key.pub -r key.priv && "
                      "tpm2_flushcontext -t && tpm2_load -Q -C primary.ctx -u key.pub -r key.priv -c key.ctx && "
                      "tpm2_evictcontrol -Q -C o -c key.ctx 0x81000001 && tpm2_flushcontext -t && "
                      "tpm2_readpublic -Q -c 0x81000001 -f pem -o persistent.pub";
  auto made = testing::capture_shell(tools + " 2>&1");
  ASSERT_EQ(made.status, 0) << made.output;
  config["device_key"] = {{"provider", "tpm2"}, {"handle", "0x81000001"}, {"tcti", tpm->tcti()}};
  testing::write_text(dir / "agent.json", config.dump());
  auto device = enrolled();
  auto persistent = signing::load_public_key((dir / "persistent.pub").string());
  ASSERT_TRUE(persistent);
  EXPECT_EQ(device["id"], persistent->key_id());
  EXPECT_FALSE(std::filesystem::exists(dir / "agent-state" / "device.tpm.pem"));
  EXPECT_FALSE(std::filesystem::exists(dir / "agent-state" / "device.key"));
}

TEST_F(AgentTpmTest, NoBlobAndCreateFalseIsRefusedByName) {
  config["device_key"]["create"] = false;
  testing::write_text(dir / "agent.json", config.dump());
  EXPECT_EQ(agent("run --once"), 1);
  EXPECT_NE(read_text(dir / "agent.log").find("/device_key/key_file"), std::string::npos) << read_text(dir / "agent.log");
  EXPECT_TRUE(admin->request("GET", "/api/v1/devices")->json()["devices"].empty());
}

}  // namespace
}  // namespace flotilla
