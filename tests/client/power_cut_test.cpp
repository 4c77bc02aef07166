// Power cuts injected in process (tests/client/fault_env.hpp): the agent
// runs inside the test against the real server, and the power goes off at
// exact points chosen from a seed — after every step it persists, and at
// 200 byte offsets of one download. After each cut the slot loses what was
// not synced, the boot firmware powers on, and the agent starts again on
// what is on disk. Every update ends committed, with the image's bytes in
// the slot, every event delivered once and in order, and no failure.
// Seconds, not minutes: the same proof as the SIGKILL tests, at every
// instant instead of a few.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "client/agent.hpp"
#include "client/bootloader.hpp"
#include "client/daemon.hpp"
#include "tests/client/agent_server_fixture.hpp"
#include "tests/client/fault_env.hpp"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using testing::FaultEnv;
using testing::PowerCut;

constexpr std::size_t kImageBytes = 4 << 20;

// FLOTILLA_FAULT_SEED=<n> replays a run; otherwise a fresh seed, printed.
std::uint64_t fault_seed() {
  const char* given = std::getenv("FLOTILLA_FAULT_SEED");
  std::uint64_t seed = given ? std::strtoull(given, nullptr, 10) : std::random_device{}();
  std::cout << "[ faults ] seed " << seed << " (FLOTILLA_FAULT_SEED replays it)\n";
  return seed;
}

class InProcessPowerCutTest : public AgentServerTest {
 protected:
  std::vector<std::string> serve_args() const override { return {"--scheduler-interval", "0.2"}; }
  std::string image;
  std::string bundle;  // file digest

  void SetUp() override {
    AgentServerTest::SetUp();
    image = random_image(kImageBytes, 11);
    bundle = upload_image(image);
  }

  // A device of its own under dir/name (state, slots, boot environment);
  // returns its config file.
  fs::path make_device(const std::string& name) {
    auto home = dir / name;
    fs::create_directories(home);
    testing::make_file_slot(home / "slot-a", "factory image");
    testing::make_file_slot(home / "slot-b", "", kImageBytes + (1 << 20));
    auto own = config;
    own["device"]["identity"]["serial"] = name;
    own["state_dir"] = (home / "state").string();
    own["slots"]["rootfs"]["a"] = (home / "slot-a").string();
    own["slots"]["rootfs"]["b"] = (home / "slot-b").string();
    own["bootloader"]["path"] = (home / "bootenv.json").string();
    own["health_checks"] = common::Json::array({{{"command", {"true"}}}});
    testing::write_text(home / "agent.json", own.dump());
    return home / "agent.json";
  }

  enum class BootEnd { kCut, kReboot, kDone };
  // One boot: the agent starts on `env` and runs its cycles until it asks
  // for a reboot, has run `cycles` (`pause` apart: time for the server's
  // scheduler), or the power goes off. Then, as after any reboot or cut,
  // the boot firmware powers on (a trial boots here).
  BootEnd boot(const fs::path& config_path, FaultEnv& env, int cycles = 3,
               std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    auto loaded = client::load_agent_config(config_path);
    EXPECT_TRUE(loaded) << loaded.error().describe();
    if (!loaded) return BootEnd::kDone;
    BootEnd end = BootEnd::kDone;
    try {
      auto agent = client::Agent::open(*loaded, env);
      EXPECT_TRUE(agent) << agent.error().describe();
      if (!agent) return BootEnd::kDone;
      auto daemon = client::Daemon::open(**agent);
      EXPECT_TRUE(daemon) << daemon.error().describe();
      if (!daemon) return BootEnd::kDone;
      for (int i = 0; i < cycles && end == BootEnd::kDone; ++i) {
        if (i > 0) std::this_thread::sleep_for(pause);
        auto next = (*daemon)->cycle();
        EXPECT_TRUE(next) << next.error().describe();
        if (next && next->exit_code) end = BootEnd::kReboot;
      }
    } catch (const PowerCut& cut) {
      env.lose_unsynced_writes();
      end = BootEnd::kCut;
    }
    env.reboot();
    if (end != BootEnd::kDone) {
      auto firmware = client::open_bootloader(*loaded);
      EXPECT_TRUE(firmware && (*firmware)->power_on());
    }
    return end;
  }

  // Boots without faults until the update is committed and its events
  // are all delivered (bounded).
  void finish(const fs::path& config_path, FaultEnv& env) {
    for (int i = 0; i < 6; ++i) {
      if (boot(config_path, env) != BootEnd::kReboot && committed_and_reported(config_path)) return;
    }
    ADD_FAILURE() << "the update did not commit within 6 boots";
  }

  bool committed_and_reported(const fs::path& config_path) {
    auto loaded = client::load_agent_config(config_path);
    auto agent = client::Agent::open(*loaded);
    if (!agent) return false;
    auto status = (*agent)->status();
    return status && (*status)["update"]["state"] == "committed" && (*status)["outbox"] == 0;
  }

  // The server saw one update, in order, each event once, and no failure.
  void expect_succeeded_once(std::int64_t deployment, const std::string& device_id, const fs::path& config_path) {
    auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
    EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
    EXPECT_EQ(shown["counts"].value("failed", 0), 0) << shown.dump();
    auto events = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment) + "/devices/" + device_id +
                                 "/events")->json()["events"];
    std::int64_t last_seq = 0;
    for (const auto& e : events) {
      EXPECT_GT(e["seq"].get<std::int64_t>(), last_seq) << events.dump();
      last_seq = e["seq"];
      EXPECT_NE(e["state"], "failed") << e.dump();
    }
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["state"], "succeeded");
    auto slot_b = config_path.parent_path() / "slot-b";
    EXPECT_TRUE(testing::read_head(slot_b, kImageBytes) == image) << "slot b does not hold the image";
  }

  // Enrolls the device (one boot) and deploys the bundle to it.
  std::pair<std::int64_t, std::string> enroll_and_deploy(const fs::path& config_path, FaultEnv& env) {
    boot(config_path, env, 1);
    auto devices = admin->request("GET", "/api/v1/devices")->json()["devices"];
    std::string serial = config_path.parent_path().filename().string();
    for (const auto& d : devices) {
      if (d["identity"].value("serial", "") == serial) return {deploy(bundle, d), d["id"].get<std::string>()};
    }
    ADD_FAILURE() << serial << " did not enroll: " << devices.dump();
    return {0, ""};
  }
};

TEST_F(InProcessPowerCutTest, ACutAfterEveryPersistedStepResumesToACommit) {
  auto seed = fault_seed();
  // The steps of an update that meets no fault, in order.
  auto clean = make_device("clean");
  FaultEnv watch(seed);
  auto [first, first_id] = enroll_and_deploy(clean, watch);
  std::size_t before = watch.points().size();
  finish(clean, watch);
  expect_succeeded_once(first, first_id, clean);
  std::vector<std::string> steps(watch.points().begin() + static_cast<std::ptrdiff_t>(before), watch.points().end());
  std::set<std::string> distinct(steps.begin(), steps.end());
  for (const char* step : {"downloading_installing", "writing_slot", "installed", "rebooting", "verifying", "committed"}) {
    EXPECT_TRUE(distinct.contains(step)) << step << " is not among the steps reached";
  }
  // Then one device per step: the power goes off right after it.
  std::map<std::string, int> occurrence;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    int nth = ++occurrence[steps[i]];
    SCOPED_TRACE("cut after " + steps[i] + " #" + std::to_string(nth));
    auto device = make_device("cut-" + std::to_string(i));
    FaultEnv env(seed + i);
    auto [deployment, id] = enroll_and_deploy(device, env);
    env.cut_after(steps[i], nth);
    int cuts = 0;
    for (int b = 0; b < 4 && cuts == 0; ++b) cuts += boot(device, env) == BootEnd::kCut;
    EXPECT_EQ(cuts, 1) << "the power never went off after " << steps[i];
    finish(device, env);
    expect_succeeded_once(deployment, id, device);
  }
}

TEST_F(InProcessPowerCutTest, TwoHundredCutsAtSeededDownloadOffsetsResumeToACommit) {
  auto seed = fault_seed();
  std::mt19937_64 random(seed);
  auto device = make_device("device");
  FaultEnv env(seed);
  auto [deployment, id] = enroll_and_deploy(device, env);
  auto bundle_bytes = fs::file_size(dir / "big.flb");
  std::set<std::uint64_t> offsets;
  while (offsets.size() < 200) offsets.insert(std::uniform_int_distribution<std::uint64_t>(1, bundle_bytes - 1)(random));

  int cuts = 0;
  for (auto offset : offsets) {
    env.cut_at_offset(offset);
    auto end = boot(device, env);
    ASSERT_EQ(end, BootEnd::kCut) << "no cut at byte " << offset << " after " << cuts << " cuts";
    ++cuts;
  }
  finish(device, env);
  expect_succeeded_once(deployment, id, device);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  // The agent reported most cuts when it came back: interruptions, apart from failures.
  EXPECT_GE(shown["interruptions"]["total"].get<int>(), 100) << shown.dump();
  std::cout << "[ faults ] " << cuts << " cuts, " << shown["interruptions"]["total"] << " interruptions reported\n";
}

// A trial boot cut before the agent starts uses the new slot's try, and
// GRUB falls back to the running slot (using that one's try too). A retry
// taken in the same run arms a new trial; cut the same way, it must fall
// back the same way. Had the agent not renewed the running slot's try
// before arming, every good slot would have used its try, and the boot
// script's renewal (examples/boot/grub/grub.cfg) would boot the new slot a
// second time — forever, for an image that panics before the agent.
TEST_F(InProcessPowerCutTest, EachTrialCutBeforeTheAgentStartsFallsBackToTheRunningSlot) {
  auto device = make_device("device");
  auto own = common::Json::parse(testing::read_text(device));
  own["bootloader"] = {{"type", "grub"}, {"path", (device.parent_path() / "grubenv").string()}};
  testing::write_text(device, own.dump());
  FaultEnv env(1);
  boot(device, env, 1);  // enrolls
  auto created = admin->request("POST", "/api/v1/rollouts", R"({"name": "r", "bundle": {"name": "gw-os", "version": "2.4.0"},
      "target": {"device_types": ["gw-x1"]}, "waves": [{"name": "all", "size": "100%"}], "device_retries": 1})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::int64_t deployment = created->json()["deployment_id"];
  auto loaded = client::load_agent_config(device);
  ASSERT_TRUE(loaded);
  auto firmware = client::open_bootloader(*loaded);
  ASSERT_TRUE(firmware);
  // One retry: the second fall-back is final, so the state read at the end
  // does not race a third offer from the scheduler.
  // Boots until the scheduler's offer is taken and a trial armed (the
  // firmware then powers on into slot b), then cuts that trial boot. One
  // agent run finds the trial rolled back and takes the retry.
  auto armed_then_cut = [&] {
    if (boot(device, env, 40, std::chrono::milliseconds(250)) != BootEnd::kReboot) return std::string("no trial armed");
    auto fell_back = (*firmware)->power_on();
    return fell_back ? *fell_back : fell_back.error().describe();
  };
  EXPECT_EQ(armed_then_cut(), "a");
  EXPECT_EQ(armed_then_cut(), "a") << "the new slot was booted a second time";
  boot(device, env);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "rolled_back") << shown.dump();
  EXPECT_EQ(shown["devices"][0]["running_version"], "2.3.0") << shown.dump();
}

// A helper program that cannot start (here the health check, in the trial
// boot) fails the trial: the device rolls back instead of committing.
TEST_F(InProcessPowerCutTest, AHealthCheckThatCannotStartRollsTheTrialBack) {
  auto device = make_device("device");
  FaultEnv env(1);
  auto [deployment, id] = enroll_and_deploy(device, env);
  ASSERT_EQ(boot(device, env), BootEnd::kReboot);  // installed, trial armed, powered on into slot b
  env.fail_run(1);
  boot(device, env);
  boot(device, env);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "rolled_back") << shown.dump();
  auto loaded = client::load_agent_config(device);
  auto agent = client::Agent::open(*loaded);
  ASSERT_TRUE(agent);
  auto status = (*agent)->status();
  EXPECT_NE((*status)["last_error"].dump().find("cannot start true"), std::string::npos) << status->dump();
}

}  // namespace
}  // namespace flotilla
