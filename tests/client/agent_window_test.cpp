// Activation windows on the device (docs/agent.md, "Activation windows"):
// a rollout with windows_apply_to "activate" offers the update at once;
// the agent writes an A/B update straight away but arms its trial and
// reboots only inside the window, and holds a bundle that would take
// effect as it installs. Real server, real agent processes (each `run
// --once` is a fresh start, as after a power cut).
#include <gtest/gtest.h>

#include <thread>

#include "tests/client/agent_server_fixture.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::write_text;

class AgentWindowTest : public AgentServerTest {
 protected:
  // A daily one-hour window three hours from now; windows stop applying
  // at the deadline, `hold` from now. Returns the rollout's deployment.
  std::int64_t rollout_with_window(const std::string& version, std::chrono::seconds hold) {
    auto now = common::now_utc();
    auto start = common::format_rfc3339(now + std::chrono::hours(3)).substr(11, 5);
    deadline = now + hold;
    auto created = admin->request("POST", "/api/v1/rollouts", R"({"name": "r", "bundle": {"name": "gw-os", "version": ")" + version +
                                                                   R"("}, "target": {"device_types": ["gw-x1"]}, "waves": [{"name": "all", "size": "100%"}],
        "schedule": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": ")" + start +
                                                                   R"(", "duration": "1h", "tz": "UTC"}], "windows_apply_to": "activate"},
        "deadline": ")" + common::format_rfc3339(deadline) + R"(", "enforce_after_deadline": true})");
    EXPECT_EQ(created->status, 201) << created->body;
    return created->status == 201 ? created->json()["deployment_id"].get<std::int64_t>() : 0;
  }
  // Polls (a fresh agent each second) until `done` holds; every run must
  // end with `code`.
  bool polls_until(int seconds, int code, const std::function<bool()>& done) {
    for (int i = 0; i < seconds; ++i) {
      EXPECT_EQ(agent("run --once"), code) << read_text(dir / "agent.log");
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return false;
  }
  common::Json agent_status() {
    auto out = dir / "status.json";
    EXPECT_EQ(testing::run_shell(std::string(FLOTILLA_AGENT) + " status --json --config '" + (dir / "agent.json").string() + "' > '" +
                                 out.string() + "'"),
              0);
    return common::Json::parse(read_text(out), nullptr, false);
  }
  std::string device_state(std::int64_t deployment) {
    auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
    return shown["devices"].empty() ? "" : shown["devices"][0]["state"].get<std::string>();
  }
  bool before_deadline() const { return common::now_utc() < deadline; }

  common::TimePoint deadline;
};

TEST_F(AgentWindowTest, AnABUpdateIsWrittenAtOnceAndSwitchedToOnlyInsideItsWindow) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  upload_bundle("2.4.0");
  auto deployment = rollout_with_window("2.4.0", std::chrono::seconds(20));
  ASSERT_GT(deployment, 0);
  // Written into slot b as soon as offered; no trial armed, no reboot.
  ASSERT_TRUE(polls_until(15, 0, [&] { return agent_status()["update"]["state"] == "installed"; })) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");
  auto status = agent_status();
  ASSERT_TRUE(status["activate_window"].is_object()) << status.dump();
  EXPECT_EQ(status["activate_window"]["until"], common::format_rfc3339(deadline)) << status.dump();
  EXPECT_NE(read_text(dir / "bootenv.json").find("\"BOOT_ORDER\": \"a b\""), std::string::npos) << read_text(dir / "bootenv.json");
  // Restarts and reboots while it waits keep the running slot: nothing armed.
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(agent_status()["booted_slot"], "a");
  ASSERT_TRUE(before_deadline()) << "this machine was too slow to see the hold";
  EXPECT_EQ(device_state(deployment), "installing");
  EXPECT_NE(read_text(dir / "agent.log").find("waits for its activation window"), std::string::npos);
  // The deadline lifts the window: armed, rebooted, committed.
  while (before_deadline()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(agent_status()["booted_slot"], "b");
  EXPECT_EQ(device_state(deployment), "succeeded");
  EXPECT_TRUE(agent_status()["activate_window"].is_null());
}

// The daemon rests until the window opens, not until its next poll: with
// the server's 60 s poll interval, an update whose window opens 12 s
// after the install is switched to at about 12 s.
TEST_F(AgentWindowTest, TheDaemonWakesForTheWindowItsPollIntervalWouldMiss) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  upload_bundle("2.4.0");
  auto deployment = rollout_with_window("2.4.0", std::chrono::seconds(12));
  ASSERT_GT(deployment, 0);
  ASSERT_TRUE(polls_until(10, 0, [&] { return agent_status()["update"]["state"] == "installed"; })) << read_text(dir / "agent.log");
  ASSERT_TRUE(before_deadline());
  auto started = std::chrono::steady_clock::now();
  // 77: the reboot it asks for (reboot.mode exit).
  EXPECT_EQ(agent("run", "timeout 50"), 77) << read_text(dir / "agent.log");
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(common::now_utc(), deadline);
  EXPECT_LT(waited, std::chrono::seconds(40)) << "rested for a whole poll interval";
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(device_state(deployment), "succeeded");
}

TEST_F(AgentWindowTest, ABundleThatTakesEffectAsItInstallsWaitsWholeForItsWindow) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto m = testing::sample_manifest();
  m.reboot_required = false;
  auto dest = dir / "opt" / "tool.sh";
  write_text(dir / "tool.sh", "#!/bin/sh\necho 2.4.0\n");
  ASSERT_TRUE(artifacts::write_bundle(
      {m, {{{.name = "tool.sh", .type = artifacts::PayloadType::kFile, .path = dest.string(), .mode = 0755}, dir / "tool.sh"}}},
      {&trust.release_key}, dir / "files.flb"));
  ASSERT_EQ(admin->upload("/api/v1/bundles", dir / "files.flb")->status, 201);
  auto deployment = rollout_with_window("2.4.0", std::chrono::seconds(20));
  ASSERT_GT(deployment, 0);
  ASSERT_TRUE(polls_until(15, 0, [&] { return agent_status()["update"]["state"] == "interrupted"; })) << read_text(dir / "agent.log");
  // Later offers inside the hold are not downloaded again.
  ASSERT_EQ(agent("run --once"), 0);
  ASSERT_EQ(agent("run --once"), 0);
  ASSERT_TRUE(before_deadline()) << "this machine was too slow to see the hold";
  EXPECT_FALSE(std::filesystem::exists(dest));
  auto log = read_text(dir / "agent.log");
  EXPECT_NE(log.find("takes effect as it installs; it waits for its activation window"), std::string::npos) << log;
  int installs = 0;
  for (auto at = log.find("installing deployment"); at != std::string::npos; at = log.find("installing deployment", at + 1)) ++installs;
  EXPECT_EQ(installs, 1) << log;
  EXPECT_TRUE(agent_status()["activate_window"].is_object());
  // Once the deadline lifts the window: installed and committed at once.
  ASSERT_TRUE(polls_until(40, 0, [&] { return std::filesystem::exists(dest); })) << read_text(dir / "agent.log");
  EXPECT_FALSE(before_deadline());
  EXPECT_EQ(read_text(dest), "#!/bin/sh\necho 2.4.0\n");
  ASSERT_TRUE(polls_until(10, 0, [&] { return device_state(deployment) == "succeeded"; }));
  EXPECT_EQ(agent_status()["components"]["rootfs"]["version"], "2.4.0");
}

}  // namespace
}  // namespace flotilla
