// Every refusal of the agent has a code of its own (client/errors.hpp):
// the agent in process, refusing what it must, each time with the code a
// device maker's tooling can rely on — and nothing changed by a refusal.
#include <gtest/gtest.h>

#include "artifacts/stream.hpp"
#include "client/agent.hpp"
#include "client/errors.hpp"
#include "tests/client/agent_fixture.hpp"

namespace flotilla {
namespace {

using client::Errc;

class RefusalCodesTest : public testing::AgentTest {
 protected:
  std::unique_ptr<client::Agent> open() {
    auto parsed = client::parse_agent_config(config);
    EXPECT_TRUE(parsed) << parsed.error().describe();
    auto agent = client::Agent::open(std::move(*parsed));
    EXPECT_TRUE(agent) << agent.error().describe();
    return agent ? std::move(*agent) : nullptr;
  }
  common::Result<client::Agent::Installed> install(client::Agent& agent, const std::filesystem::path& file) {
    auto source = artifacts::FileSource::open(file.string());
    if (!source) return std::unexpected(source.error());
    return agent.install(**source, std::nullopt, false);
  }
  // A bundle of one payload: a raw image for `slot_class`, or a module payload.
  std::filesystem::path one_payload_bundle(const std::string& name, artifacts::Payload payload) {
    testing::write_text(dir / "payload", "payload " + name);
    auto out = dir / (name + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({testing::sample_manifest(), {{std::move(payload), dir / "payload"}}},
                                        {&trust.release_key}, out));
    return out;
  }
};

TEST_F(RefusalCodesTest, NothingToCommitOrRollBackWhileIdle) {
  auto agent = open();
  ASSERT_TRUE(agent);
  auto commit = agent->verify_and_commit();
  ASSERT_FALSE(commit);
  EXPECT_TRUE(commit.error().is(Errc::kNothingToCommit)) << commit.error().describe();
  auto rollback = agent->rollback("by hand");
  ASSERT_FALSE(rollback);
  EXPECT_TRUE(rollback.error().is(Errc::kNothingToRollBack)) << rollback.error().describe();
}

TEST_F(RefusalCodesTest, ASecondInstallWaitsForTheFirstOnesReboot) {
  auto agent = open();
  ASSERT_TRUE(agent);
  auto first = install(*agent, bundle("2.4.0", 8));
  ASSERT_TRUE(first) << first.error().describe();
  std::string slot_b = testing::read_text(dir / "slot-b");
  auto second = install(*agent, bundle("2.5.0", 8));
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().is(Errc::kWaitsForReboot)) << second.error().describe();
  EXPECT_EQ(testing::read_text(dir / "slot-b"), slot_b);
}

TEST_F(RefusalCodesTest, PayloadsTheDeviceCannotTake) {
  auto agent = open();
  ASSERT_TRUE(agent);
  auto no_class = install(*agent, one_payload_bundle("data", {.name = "data.img", .type = artifacts::PayloadType::kRawImage,
                                                              .slot = "data"}));
  ASSERT_FALSE(no_class);
  EXPECT_TRUE(no_class.error().is(Errc::kNoSlotClass)) << no_class.error().describe();
  auto no_module = install(*agent, one_payload_bundle("module", {.name = "app.tar", .type = artifacts::PayloadType::kModule,
                                                                 .module = "single-file"}));
  ASSERT_FALSE(no_module);
  EXPECT_TRUE(no_module.error().is(Errc::kModuleMissing)) << no_module.error().describe();
}

}  // namespace
}  // namespace flotilla
