// flotilla-agent run against the real server on loopback: enrollment with
// a token, signed inventory, an offered deployment downloaded and streamed
// into the inactive slot, the trial boot, the commit, and every event
// delivered from the outbox to the server's view.
#include <gtest/gtest.h>

#include <algorithm>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "common/sqlite.hpp"

#include "tests/client/agent_server_fixture.hpp"
#include "tests/support/bootloader_config.hpp"
#include "tests/support/cutting_proxy.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::write_text;

TEST_F(AgentServerTest, EnrollPollInstallRebootCommitReport) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto device = only_device();
  EXPECT_EQ(device["status"], "accepted");
  auto view = admin->request("GET", "/api/v1/devices/" + device["id"].get<std::string>())->json();
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.3.0") << view.dump();
  EXPECT_EQ(view["inventory"]["booted_slot"], "a");

  std::string bundle = upload_bundle("2.4.0");
  auto created = admin->request("POST", "/api/v1/deployments",
                                common::Json{{"bundle", bundle}, {"devices", {device["id"]}}}.dump());
  ASSERT_EQ(created->status, 201) << created->body;
  std::int64_t deployment = created->json()["id"];

  // Downloads, verifies while streaming into slot b, arms the trial, and
  // asks for a reboot (exit code 77).
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");  // the fixture's image
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");

  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  auto events = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment) + "/devices/" +
                                          device["id"].get<std::string>() + "/events")->json()["events"];
  std::vector<std::string> states;
  for (const auto& e : events) states.push_back(e["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"downloading", "installing", "rebooting", "verifying", "succeeded"}));
  view = admin->request("GET", "/api/v1/devices/" + device["id"].get<std::string>())->json();
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.4.0");
  EXPECT_EQ(view["inventory"]["booted_slot"], "b");
  // Nothing left to send, nothing more offered.
  ASSERT_EQ(agent("run --once"), 0);
  EXPECT_NE(read_text(dir / "agent.log").find("committed in slot b"), std::string::npos);
}

TEST_F(AgentServerTest, RefusedBundleIsReportedFailedAndNothingChanges) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto device = only_device();
  // A bundle the device refuses: its security version is below the device's.
  auto m = testing::sample_manifest();
  m.version = *common::Version::parse("2.4.1");
  m.security_version = 6;
  std::string bundle = upload_bundle_of(m);
  auto created = admin->request("POST", "/api/v1/deployments",
                                common::Json{{"bundle", bundle}, {"devices", {device["id"]}}}.dump());
  ASSERT_EQ(created->status, 201);
  std::int64_t deployment = created->json()["id"];
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "failed") << shown.dump();
  EXPECT_NE(shown["devices"][0]["message"].get<std::string>().find("security_version 6 is below the installed 7"),
            std::string::npos)
      << shown.dump();
  EXPECT_TRUE(read_text(dir / "slot-b") == std::string(testing::kTestSlotBytes, '\0'));  // not a byte written
  EXPECT_EQ(agent("boot"), 0);
  EXPECT_NE(read_text(dir / "bootenv.json").find("\"BOOTED\": \"a\""), std::string::npos);
}

TEST_F(AgentServerTest, FailedHealthCheckRebootsBackAndReportsRolledBack) {
  config["health_checks"] = {{{"command", {"/bin/sh", "-c", "test ! -e " + (dir / "unhealthy").string()}}}};
  write_text(dir / "agent.json", config.dump());
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto device = only_device();
  std::string bundle = upload_bundle("2.4.0");
  auto created = admin->request("POST", "/api/v1/deployments",
                                common::Json{{"bundle", bundle}, {"devices", {device["id"]}}}.dump());
  ASSERT_EQ(created->status, 201);
  std::int64_t deployment = created->json()["id"];
  ASSERT_EQ(agent("run --once"), 77);
  ASSERT_EQ(agent("boot"), 0);  // into b
  write_text(dir / "unhealthy", "");
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");  // rolls back: reboot into a
  ASSERT_EQ(agent("boot"), 0);
  EXPECT_NE(read_text(dir / "bootenv.json").find("\"BOOTED\": \"a\""), std::string::npos);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto view = expect_rolled_back_to_2_3_0(deployment, device);
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.3.0");
  EXPECT_EQ(view["inventory"]["health"]["update_state"], "rolled_back") << view.dump();
}

// A rollout's retry (device_retries) of a deployment the agent finished is
// taken — but only once the server has the failure: the poll sent while
// the rolled_back event was still unsent is answered with the attempt the
// server believed in progress, and that is not a retry.
TEST_F(AgentServerTest, ARolloutRetryIsTakenOnceTheServerHasTheFailure) {
  config["health_checks"] = {{{"command", {"/bin/sh", "-c", "test ! -e " + (dir / "unhealthy").string()}}}};
  write_text(dir / "agent.json", config.dump());
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  upload_bundle("2.4.0");
  auto created = admin->request("POST", "/api/v1/rollouts", R"({"name": "r", "bundle": {"name": "gw-os", "version": "2.4.0"},
      "target": {"device_types": ["gw-x1"]}, "waves": [{"name": "all", "size": "100%"}], "device_retries": 1})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::int64_t deployment = created->json()["deployment_id"];
  // Polls until the scheduler's offer comes and the agent installs (77).
  auto install_within = [&](int seconds) {
    for (int i = 0; i < seconds; ++i) {
      int code = agent("run --once");
      if (code == 77) return true;
      EXPECT_EQ(code, 0) << read_text(dir / "agent.log");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return false;
  };
  ASSERT_TRUE(install_within(30)) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  write_text(dir / "unhealthy", "");
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");  // rolled back: reboot into a
  ASSERT_EQ(agent("boot"), 0);
  std::filesystem::remove(dir / "unhealthy");
  // This round's poll goes out before the rolled_back event: not a retry.
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(read_text(dir / "agent.log").find("trying again"), std::string::npos);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "rolled_back") << shown.dump();
  // The next polls get the retry and take it; this time it commits.
  ASSERT_TRUE(install_within(30)) << read_text(dir / "agent.log");
  EXPECT_NE(read_text(dir / "agent.log").find("offered again after rolled_back: trying again"), std::string::npos);
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  // Committed: never taken again.
  ASSERT_EQ(agent("run --once"), 0);
  auto log = read_text(dir / "agent.log");
  int installs = 0;
  for (auto at = log.find("installing deployment"); at != std::string::npos; at = log.find("installing deployment", at + 1)) ++installs;
  EXPECT_EQ(installs, 2);
}

TEST_F(AgentServerTest, FollowsARootRotationAndTakesBundlesOfTheNewReleaseKey) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto device = only_device();
  // The operator rotates the root: same root key, a new release key.
  auto new_release = testing::make_key();
  std::string v2 = testing::make_root_json({.version = 2, .root_keys = {&trust.root_key}, .release_keys = {&new_release}},
                                           {&trust.root_key});
  ASSERT_EQ(admin->request("PUT", "/api/v1/trust", v2)->status, 200);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(read_text(dir / "agent-state" / "roots" / "2.root.json"), v2);
  // A bundle signed only by the new release key installs.
  auto m = testing::sample_manifest();
  write_text(dir / "img", "signed by the rotated key");
  ASSERT_TRUE(artifacts::write_bundle({m, {{{.name = "img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"}, dir / "img"}}},
                                      {&new_release}, dir / "v2.flb"));
  auto uploaded = admin->upload("/api/v1/bundles", dir / "v2.flb");
  ASSERT_EQ(uploaded->status, 201) << uploaded->body;
  ASSERT_EQ(admin->request("POST", "/api/v1/deployments",
                           common::Json{{"bundle", uploaded->json()["file_sha256"]}, {"devices", {device["id"]}}}.dump())
                ->status,
            201);
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 25), "signed by the rotated key");
}

TEST_F(AgentServerTest, TamperCheckFlagsTheDevice) {
  // The check fails (exit 1, saying why) only when the case was opened.
  config["tamper_check"] = {
      {"command", {"/bin/sh", "-c", "if [ -e " + (dir / "opened").string() + " ]; then echo case opened; exit 1; fi"}}};
  write_text(dir / "agent.json", config.dump());
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_EQ(only_device()["tampered"], false);
  write_text(dir / "opened", "");
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto view = admin->request("GET", "/api/v1/devices/" + only_device()["id"].get<std::string>())->json();
  EXPECT_EQ(view["tampered"], true) << view.dump();
  EXPECT_EQ(view["inventory"]["tamper"]["tamper-check"]["detail"], "case opened");
}

// A device whose state was wiped or restored from an older image counts
// inventories from 1 again, below what the server accepted: the server's
// 409 says its last counter, and the agent continues above it.
TEST_F(AgentServerTest, AnInventoryCounterBehindTheServersContinuesAboveIt) {
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto report_counter = [&] {
    return admin->request("GET", "/api/v1/devices/" + only_device()["id"].get<std::string>())->json()["report_counter"];
  };
  std::int64_t accepted = report_counter();
  ASSERT_GT(accepted, 0);
  {
    auto db = common::Database::open((dir / "agent-state" / "agent.db").string());
    ASSERT_TRUE(db) << db.error().describe();
    ASSERT_TRUE(db->exec("DELETE FROM settings WHERE key LIKE 'inventory%'"));
  }
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_NE(read_text(dir / "agent.log").find("continuing above the server's " + std::to_string(accepted)), std::string::npos)
      << read_text(dir / "agent.log");
  EXPECT_EQ(report_counter(), accepted + 1);
}

// The whole lifecycle against the server on each bootloader backend, the
// real fw_setenv and grub-editenv included.
class AgentServerBootloaderTest : public AgentServerTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    AgentServerTest::SetUp();
    config["bootloader"] = testing::bootloader_config(GetParam(), dir.path());
    write_text(dir / "agent.json", config.dump());
  }
};

TEST_P(AgentServerBootloaderTest, DeployInstallRebootCommit) {
  auto device = enrolled();
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), device);
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  auto view = admin->request("GET", "/api/v1/devices/" + device["id"].get<std::string>())->json();
  EXPECT_EQ(view["inventory"]["booted_slot"], "b");
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.4.0");
}

TEST_P(AgentServerBootloaderTest, SlotThatNeverComesUpIsReportedRolledBackWithTheOldVersion) {
  auto device = enrolled();
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), device);
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);  // the trial boot hangs before the agent starts
  ASSERT_EQ(agent("boot"), 0);  // the boot counter falls back
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  expect_rolled_back_to_2_3_0(deployment, device);
}

INSTANTIATE_TEST_SUITE_P(Backends, AgentServerBootloaderTest, ::testing::Values("file", "uboot", "grub", "custom"));

// Power cuts during a deployment from the server: after the slot was
// written, and while verifying after the reboot. Each restart resumes; the
// server's view ends succeeded with every event once, in order.
TEST_F(AgentServerTest, PowerCutsDuringADeploymentLoseAndRepeatNoEvent) {
  auto device = enrolled();
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), device);
  EXPECT_NE(agent("run --once", "FLOTILLA_AGENT_FAULT=crash-after:installed"), 0);  // cut before the trial was armed
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");               // resumes: armed, reboot
  ASSERT_EQ(agent("boot"), 0);
  EXPECT_NE(agent("run --once", "FLOTILLA_AGENT_FAULT=crash-after:verifying"), 0);  // cut during the checks
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");                // checks again, commits, reports
  ASSERT_EQ(agent("run --once"), 0);
  auto events = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment) + "/devices/" +
                                          device["id"].get<std::string>() + "/events")->json()["events"];
  std::vector<std::string> states;
  std::int64_t last_seq = 0;
  for (const auto& e : events) {
    EXPECT_GT(e["seq"].get<std::int64_t>(), last_seq);  // each event once, in order
    last_seq = e["seq"];
    if (states.empty() || states.back() != e["state"]) states.push_back(e["state"]);
  }
  EXPECT_EQ(states, (std::vector<std::string>{"downloading", "installing", "rebooting", "verifying", "succeeded"}));
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  auto status_run = testing::run_shell(std::string(FLOTILLA_AGENT) + " status --json --config '" + (dir / "agent.json").string() +
                                       "' > '" + (dir / "status.json").string() + "'");
  ASSERT_EQ(status_run, 0);
  EXPECT_EQ(common::Json::parse(read_text(dir / "status.json"))["outbox"], 0);
}

// Bundle downloads go through a proxy that cuts every connection after
// 40,000 bytes: the agent resumes with Range each time and installs the
// exact image.
// The server's public URL points at a proxy in front of it: bundle
// downloads cross the proxy's network.
class AgentBehindProxyTest : public AgentServerTest {
 protected:
  explicit AgentBehindProxyTest(std::size_t cut_after, std::size_t corrupt_at = SIZE_MAX)
      : proxy(std::make_unique<testing::CuttingProxy>(cut_after, corrupt_at)) {}
  std::unique_ptr<testing::CuttingProxy> proxy;
  std::vector<std::string> serve_args() const override { return {"--public-url", proxy->url()}; }
  void SetUp() override {
    AgentServerTest::SetUp();
    proxy->set_target(std::stoi(server->url().substr(server->url().rfind(':') + 1)));
  }
};

class AgentResumeTest : public AgentBehindProxyTest {
 protected:
  AgentResumeTest() : AgentBehindProxyTest(40000) {}
};

TEST_F(AgentResumeTest, ACutConnectionResumesUntilTheBundleIsIn) {
  deploy(upload_bundle("2.4.0"), enrolled());
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");
  EXPECT_GE(proxy->connections(), 4);  // ~150 KB in pieces of 40,000 bytes
}

// The bundle's server is gone for a few seconds mid-deployment (restarted,
// or a link down): the agent waits longer between each resume instead of
// spending them all at once, and the update goes through when it is back.
class AgentServerGoneForAWhileTest : public AgentBehindProxyTest {
 protected:
  AgentServerGoneForAWhileTest() : AgentBehindProxyTest(SIZE_MAX) {}
};

TEST_F(AgentServerGoneForAWhileTest, TheDownloadWaitsForTheServerToComeBack) {
  deploy(upload_bundle("2.4.0"), enrolled());
  int server_port = std::stoi(server->url().substr(server->url().rfind(':') + 1));
  proxy->set_target(testing::free_port());  // nothing listens there: every connection closes empty
  std::thread comes_back([&] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    proxy->set_target(server_port);
  });
  int code = agent("run --once");
  comes_back.join();
  ASSERT_EQ(code, 77) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");
  EXPECT_GE(proxy->connections(), 3);  // refused ones, then the one that carried the bundle
  EXPECT_NE(read_text(dir / "agent.log").find("interrupted"), std::string::npos);
}

// Power cuts while a large bundle downloads: the agent is SIGKILLed at
// random instants, again and again. Each start goes on from the last
// resume point (the slot's durable bytes are read back and hashed, the
// rest comes with Range) instead of failing the deployment or starting
// over: the deployment ends succeeded with no failed attempt, the slot
// holds the image, and the bytes sent stay under twice the bundle.
class AgentPowerCutDownloadTest : public AgentBehindProxyTest {
 protected:
  AgentPowerCutDownloadTest() : AgentBehindProxyTest(SIZE_MAX) {}

  // `run --once` in the background, its output in agent.log.
  pid_t start_agent() {
    pid_t pid = ::fork();
    if (pid == 0) {
      int log = ::open((dir / "agent.log").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "run", "--once", "--config", (dir / "agent.json").c_str(), nullptr);
      ::_exit(127);
    }
    return pid;
  }
  static void power_cut(pid_t pid) {
    int status = 0;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
};

TEST_F(AgentPowerCutDownloadTest, ThirtyRandomCutsDuringA64MiBDownloadResumeToACommit) {
  constexpr std::size_t kImageBytes = 64 << 20;
  std::uint32_t seed = static_cast<std::uint32_t>(std::random_device{}());
  std::cout << "[ power cuts ] seed " << seed << "\n";
  std::mt19937 random(seed);
  std::string image = random_image(kImageBytes, seed);
  testing::make_file_slot(dir / "slot-b", "", kImageBytes + (1 << 20));
  auto device = enrolled();
  proxy->set_rate_to_clients(4 << 20);  // a 4 MiB/s link: 16 s for the image, the cuts fall while it downloads
  auto deployment = deploy(upload_image(image), device);
  auto bundle_bytes = std::filesystem::file_size(dir / "big.flb");
  std::uint64_t before = proxy->bytes_to_clients();

  int cuts = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
       cuts < 30 && std::chrono::steady_clock::now() < deadline;) {
    pid_t pid = start_agent();
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 600)(random)));
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) break;  // it finished first: the download is in
    power_cut(pid);
    ++cuts;
  }
  std::cout << "[ power cuts ] " << cuts << " cuts\n";
  EXPECT_GE(cuts, 30) << read_text(dir / "agent.log");
  // Power stays on: the download completes, the trial boots, it commits.
  int code = agent("run --once");
  if (code == 0) code = agent("run --once");  // the last cut fell between the download's end and the reboot request
  ASSERT_EQ(code, 77) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_TRUE(testing::read_head(dir / "slot-b", kImageBytes) == image) << "the slot does not hold the image";
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  EXPECT_EQ(shown["counts"].value("failed", 0), 0) << shown.dump();
  // Every cut that the agent lived to report is an interruption, not a failure.
  EXPECT_GE(shown["interruptions"]["total"].get<int>(), 1) << shown.dump();
  EXPECT_EQ(shown["devices"][0]["interruptions"], shown["interruptions"]["total"]);
  auto events = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment) + "/devices/" +
                               device["id"].get<std::string>() + "/events")->json()["events"];
  for (const auto& e : events) EXPECT_NE(e["state"], "failed") << e.dump();
  // Progress carried across the cuts: starts went on from inside the
  // image, never from further back than an earlier start (how far they
  // get depends on the machine's load, so no distance is asserted).
  std::string log = read_text(dir / "agent.log");
  std::vector<std::uint64_t> resumed_at;
  for (auto at = log.find(", resumed: "); at != std::string::npos; at = log.find(", resumed: ", at + 1)) {
    auto number = at + 11;
    resumed_at.push_back(std::stoull(log.substr(number, log.find(' ', number) - number)));
  }
  EXPECT_FALSE(resumed_at.empty()) << log;
  EXPECT_TRUE(std::is_sorted(resumed_at.begin(), resumed_at.end())) << "a start lost progress:\n" << log;
  std::uint64_t sent = proxy->bytes_to_clients() - before;
  std::cout << "[ power cuts ] " << sent << " bytes sent for a bundle of " << bundle_bytes << "\n";
  EXPECT_LT(sent, 2 * bundle_bytes);
}

// A resume point whose bytes no longer match (the slot was changed while
// the device was off) costs a download, not the update: the resumed
// attempt does not verify, and the whole bundle is downloaded again.
TEST_F(AgentPowerCutDownloadTest, AResumePointThatNoLongerMatchesCostsADownloadNotTheUpdate) {
  std::string image = random_image(4 << 20, 7);
  testing::make_file_slot(dir / "slot-b", "", image.size());
  auto device = enrolled();
  proxy->set_rate_to_clients(1 << 20);
  auto deployment = deploy(upload_image(image), device);
  pid_t pid = start_agent();
  bool kept = false;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20); !kept && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto db = common::Database::open((dir / "agent-state" / "agent.db").string());
    auto select = db ? db->prepare("SELECT value FROM settings WHERE key = 'download_resume'") : std::unexpected(db.error());
    if (select && *select->step()) kept = select->text(0).find("\"written\"") != std::string::npos;
  }
  power_cut(pid);
  ASSERT_TRUE(kept) << read_text(dir / "agent.log");
  {
    std::fstream slot(dir / "slot-b", std::ios::in | std::ios::out | std::ios::binary);
    slot.seekp(100);
    slot.put(static_cast<char>(image[100] ^ 0x5a));
  }
  proxy->set_rate_to_clients(0);
  ASSERT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
  EXPECT_NE(read_text(dir / "agent.log").find("downloading the whole bundle again"), std::string::npos) << read_text(dir / "agent.log");
  ASSERT_EQ(agent("boot"), 0);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  EXPECT_TRUE(testing::read_head(dir / "slot-b", image.size()) == image);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
}

// A network that changes one byte of the download on its way: the agent
// refuses the bundle, reports the deployment failed, activates nothing.
class AgentTamperedDownloadTest : public AgentBehindProxyTest {
 protected:
  AgentTamperedDownloadTest() : AgentBehindProxyTest(SIZE_MAX, 100000) {}
};

TEST_F(AgentTamperedDownloadTest, ChangedBytesInTransitAreRefused) {
  auto device = enrolled();
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), device);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");  // no reboot asked for
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "failed") << shown.dump();
  EXPECT_NE(shown["devices"][0]["message"].get<std::string>().find("SHA-256"), std::string::npos) << shown.dump();
  ASSERT_EQ(agent("boot"), 0);
  EXPECT_NE(read_text(dir / "bootenv.json").find("\"BOOTED\": \"a\""), std::string::npos);
}

}  // namespace
}  // namespace flotilla
