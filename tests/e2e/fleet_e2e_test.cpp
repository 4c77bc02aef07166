// The whole story, end to end, with assertions: a real server, a fleet of
// simulated devices running the real agent code (flotilla-fleet-sim), a
// staged rollout, a bad release stopped at its canary, compliance that
// matches what the devices themselves say, and an intact audit chain.
// Then the faults: the server killed mid-rollout, downloads cut, devices
// offline through a wave.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "artifacts/writer.hpp"
#include "tests/e2e/fleet_fixture.hpp"

namespace flotilla {
namespace {

using namespace std::chrono_literals;
using testing::finished;
using testing::policy_for;
using testing::read_text;
using testing::Sim;
using testing::write_text;

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

// Field gateways in the simulator (docs/gateway.md): gateways running the
// real agent with the example adapter, children of two types with a few
// that fail to flash and a few off the bus for a while. A firmware
// rollout over one type completes; compliance and the children's own
// flash agree; failures are the flash failures, counted in the guard.
TEST_F(FleetE2eTest, SimulatedGatewaysTakeTheirChildrenThroughARollout) {
  auto token = admin_client().request("POST", "/api/v1/enrollment-tokens",
                                      R"({"name": "gw", "device_types": ["gw-x1"], "max_uses": 10,
                                          "expires_at": "2099-01-01T00:00:00Z", "gateway": true})");
  ASSERT_EQ(token->status, 201) << token->body;
  write_text(dir / "gateway.token", token->json()["token"].get<std::string>());
  auto m = testing::child_firmware_manifest("mcu-fw", "1.1.0", "mcu-a");
  write_text(dir / "mcu.bin", "SIMFW component=firmware version=1.1.0 security_version=2\n" + std::string(20000, 'm'));
  ASSERT_TRUE(artifacts::write_bundle({m, {{{.name = "mcu.bin", .type = artifacts::PayloadType::kRawImage, .slot = "firmware"},
                                            dir / "mcu.bin"}}},
                                      {&trust.release_key}, dir / "mcu.flb"));
  ASSERT_EQ(admin_client().upload("/api/v1/bundles", dir / "mcu.flb")->status, 201);
  constexpr int kGateways = 3, kChildren = 8;
  Sim sim(dir.path(), start_fleet_args(0, "--gateways 3 --children-per-gateway 8 --child-types mcu-a:3,mcu-b:1 "
                                          "--child-fail 0.1 --child-offline 0.1 --offline-for 8s --seed 11 "
                                          "--gateway-enrollment-token-file '" + (dir / "gateway.token").string() + "'"));
  // The offline children enroll once they are back and the gateway scans again.
  for (int i = 0; i < 240 && accepted_devices() < kGateways * (kChildren + 1); ++i) std::this_thread::sleep_for(500ms);
  auto admin = admin_client();
  auto children = admin.request("GET", "/api/v1/devices?protocol=child&limit=1000")->json()["devices"];
  ASSERT_EQ(children.size(), static_cast<std::size_t>(kGateways * kChildren)) << read_text(dir / "sim.err");
  std::map<std::string, std::string> type_of;
  for (const auto& c : children) type_of[c["child_id"]] = c["device_type"];
  auto id = create_rollout(R"({"name": "fw", "bundle": {"name": "mcu-fw", "version": "1.1.0"},
      "target": {"device_types": ["mcu-a"]}, "waves": [{"name": "canary", "size": "20%"}, {"name": "all", "size": "100%"}],
      "failure": {"max_failure_rate": "40%", "min_finished": 4, "action": "pause"}, "device_timeout": "10m"})");
  auto view = wait_for_rollout(id, finished, 240s);
  ASSERT_EQ(view["state"], "completed") << view.dump();
  auto summary = sim.finish();
  // What each child's flash holds, from the simulator, against the server's view.
  auto deployment = admin.request("GET", "/api/v1/deployments/" + view["deployment_id"].dump())->json();
  auto [succeeded, failed] = testing::count_flash_outcomes(deployment);
  EXPECT_EQ(succeeded + failed, static_cast<int>(std::count_if(type_of.begin(), type_of.end(), [](const auto& e) { return e.second == "mcu-a"; })));
  EXPECT_EQ(summary["children"], kGateways * kChildren) << summary.dump();
  EXPECT_EQ(summary["children_by_version"].value("1.1.0", 0), succeeded) << summary.dump();
  auto report = admin.request("GET", "/api/v1/compliance?type=mcu-a")->json();
  int at_new = 0;
  for (const auto& row : report["rows"]) at_new += row["installed_version"] == "1.1.0";
  EXPECT_EQ(at_new, succeeded) << "compliance agrees with the children's flash";
  auto audit = admin.request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true) << audit.dump();
}

}  // namespace
}  // namespace flotilla
