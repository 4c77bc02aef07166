// The whole story, end to end, with assertions: a real server, a fleet of
// simulated devices running the real agent code (flotilla-fleet-sim), a
// staged rollout, a bad release stopped at its canary, compliance that
// matches what the devices themselves say, and an intact audit chain.
// Then the faults: the server killed mid-rollout, downloads cut, devices
// offline through a wave.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "tests/e2e/fleet_fixture.hpp"

namespace flotilla {
namespace {

using namespace std::chrono_literals;
using testing::finished;
using testing::policy_for;
using testing::read_text;
using testing::Sim;

class FleetE2eTest : public testing::FleetTest {};

TEST_F(FleetE2eTest, StagedRolloutThenABadReleaseStoppedAtItsCanary) {
  upload_bundle("2.4.0");
  upload_bundle("2.5.0");
  constexpr int kDevices = 40;
  Sim sim(dir.path(), start_fleet_args(kDevices, "--health-fail 1 --bad-version 2.5.0 --net-cut 0.1 --seed 7"));
  wait_for_enrollment(kDevices);
  auto admin = admin_client();

  // The good release, in the waves the dry run shows, to every device.
  auto good = policy_for("2.4.0", "10%");
  auto planned = admin.request("POST", "/api/v1/rollouts/dry-run", good)->json();
  auto id = create_rollout(good);
  auto view = wait_for_rollout(id, finished);
  ASSERT_EQ(view["state"], "completed") << view.dump();
  ASSERT_EQ(view["status"]["waves"].size(), planned["waves"].size());
  for (std::size_t w = 0; w < planned["waves"].size(); ++w) {
    EXPECT_EQ(view["status"]["waves"][w]["succeeded"], planned["waves"][w]["count"]) << "planned: " << planned.dump() << "\nran: " << view.dump();
  }

  // The bad release: every canary device fails its health check and goes
  // back by itself; the guard pauses; nobody else is offered it.
  auto bad = policy_for("2.5.0", "10%");
  auto bad_plan = admin.request("POST", "/api/v1/rollouts/dry-run", bad)->json();
  std::set<std::string> canary_ids;
  for (const auto& device : bad_plan["waves"][0]["devices"]) canary_ids.insert(device.get<std::string>());
  ASSERT_EQ(canary_ids.size(), bad_plan["waves"][0]["count"].get<std::size_t>());
  auto bad_id = create_rollout(bad);
  auto bad_view = wait_for_rollout(bad_id, finished);
  EXPECT_EQ(bad_view["state"], "paused") << bad_view.dump();
  // Settled: nobody still installing it.
  wait_for_rollout(bad_id, [](const common::Json& v) { return v["status"]["waves"][0]["in_progress"] == 0; });
  auto deployment = admin.request("GET", "/api/v1/deployments/" + bad_view["deployment_id"].dump())->json();
  std::size_t canary = deployment["devices"].size();
  EXPECT_GE(canary, 3u) << deployment.dump();  // the guard's min_finished
  for (const auto& d : deployment["devices"]) {
    EXPECT_TRUE(canary_ids.contains(d["device_id"].get<std::string>())) << "offered outside the canary: " << d.dump();
    EXPECT_EQ(d["state"], "rolled_back") << d.dump();
    EXPECT_EQ(d["running_version"], "2.4.0") << d.dump();
  }

  // Compliance says what the devices say: the simulator's own count of
  // versions equals the versions the report derives from signed inventory.
  std::this_thread::sleep_for(3s);  // a last inventory round after the rollback
  auto summary = sim.finish();
  ASSERT_TRUE(summary.is_object()) << read_text(dir / "sim.err");
  EXPECT_EQ(summary["by_version"]["2.4.0"], kDevices) << summary.dump();
  EXPECT_EQ(summary["by_result"]["rolled_back"], canary) << summary.dump();
  auto report = admin.request("GET", "/api/v1/compliance")->json();
  std::map<std::string, std::int64_t> installed, results;
  for (const auto& row : report["rows"]) {
    ++installed[row["installed_version"].get<std::string>()];
    if (row["last_update_result"] == "rolled_back") {
      EXPECT_EQ(row["installed_version"], "2.4.0") << row.dump();  // its real version, not 2.5.0
      EXPECT_EQ(row["status"], "failed") << row.dump();
    }
  }
  EXPECT_EQ(installed["2.4.0"], kDevices);
  EXPECT_EQ(report["summary"]["by_status"]["failed"], canary);
  auto audit = admin.request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true) << audit.dump();
}

// The server is SIGKILLed in the middle of a rollout and comes back on
// the same address; a tenth of the downloads are cut and resumed; some
// devices are offline through the first wave and come back later; a tenth
// have clocks a day behind (they learn the server's time from its refusal). The
// rollout completes anyway, every device once.
TEST_F(FleetE2eTest, ServerKilledDownloadsCutDevicesOfflineAndTheRolloutStillCompletes) {
  upload_bundle("2.4.0");
  constexpr int kDevices = 30;
  server->keep_port();
  Sim sim(dir.path(), start_fleet_args(kDevices, "--net-cut 0.1 --offline 0.15 --offline-from 3s --offline-for 25s --clock-skew 0.1 --seed 3"));
  wait_for_enrollment(kDevices);
  auto id = create_rollout(policy_for("2.4.0", "20%"));
  // Before the scheduler's first pass the view has no waves yet.
  wait_for_rollout(id, [](const common::Json& v) {
    return v.value(common::Json::json_pointer("/status/waves/0/succeeded"), std::int64_t{0}) > 0;
  });
  server->kill9();
  std::this_thread::sleep_for(2s);  // devices meet a dead server
  server->start();
  auto view = wait_for_rollout(id, finished, 180s);
  EXPECT_EQ(view["state"], "completed") << view.dump();
  auto deployment = admin_client().request("GET", "/api/v1/deployments/" + view["deployment_id"].dump())->json();
  EXPECT_EQ(deployment["devices"].size(), static_cast<std::size_t>(kDevices));
  for (const auto& d : deployment["devices"]) EXPECT_EQ(d["state"], "succeeded") << d.dump();
  auto summary = sim.finish();
  EXPECT_EQ(summary["by_version"]["2.4.0"], kDevices) << summary.dump();
  EXPECT_GT(summary["failed_cycles"].get<std::int64_t>(), 0) << "nobody noticed the server was gone";
  auto audit = admin_client().request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true) << audit.dump();
}

}  // namespace
}  // namespace flotilla
