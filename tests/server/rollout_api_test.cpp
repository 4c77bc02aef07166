// Staged rollouts against the real server: devices are HTTP clients in
// the test, the scheduler runs on its own (a fast interval), and every
// expectation is read back through the API or the audit log.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::TestDevice;
using namespace std::chrono_literals;

// A scripted device: reports 2.3.0, and when offered an update walks it to
// `committed` or to `failed`.
struct ScriptedDevice {
  std::unique_ptr<TestDevice> api;
  std::int64_t counter = 0;
  std::map<std::int64_t, std::int64_t> seq;  // per deployment
  std::vector<std::int64_t> offered;         // deployments offered, in order
  // When, on the test's one step counter, the device was last offered an
  // update and last reported its outcome: orders offers against outcomes
  // exactly, whichever poll round they fell in.
  std::int64_t offered_at = 0;
  std::int64_t finished_at = 0;
};

class RolloutApiTest : public testing::RunningServer {
 protected:
  std::unique_ptr<cli::ApiClient> admin;
  std::vector<ScriptedDevice> fleet;
  std::int64_t step = 0;

  std::vector<std::string> serve_args() const override { return {"--scheduler-interval", "0.2"}; }

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }

  void enroll(int count, const std::string& version = "2.3.0") {
    std::string token = enrollment_token(R"(["gw-x1"])", count + 10);
    for (int i = 0; i < count; ++i) {
      ScriptedDevice d{std::make_unique<TestDevice>(server->url(), "gw-x1", "SN-" + std::to_string(fleet.size()))};
      ASSERT_EQ(d.api->auth(token).status, 200);
      ASSERT_EQ(d.api->inventory(++d.counter, version, 1).status, 200);
      fleet.push_back(std::move(d));
    }
  }

  cli::ApiResponse post(const std::string& path, const std::string& body = "") {
    return *admin->request("POST", path, body);
  }
  common::Json show(std::int64_t id) { return admin->request("GET", "/api/v1/rollouts/" + std::to_string(id))->json(); }

  std::int64_t create(const common::Json& policy) {
    auto response = post("/api/v1/rollouts", policy.dump());
    EXPECT_EQ(response.status, 201) << response.body;
    return response.status == 201 ? response.json()["id"].get<std::int64_t>() : 0;
  }

  // Polls every device once; those offered something walk it to the end.
  // Returns how many took an offer.
  // Devices in `interrupted` lose power (or the network) twice while
  // downloading, then take the update again and finish it.
  std::set<std::string> interrupted;

  int poll_all(const std::set<std::string>& failing = {}) {
    int taken = 0;
    for (auto& d : fleet) {
      auto update = d.api->poll().json()["update"];
      if (update.is_null()) continue;
      ++taken;
      std::int64_t id = update["deployment_id"];
      d.offered.push_back(id);
      d.offered_at = ++step;
      bool fail = failing.contains(d.api->id());
      if (interrupted.contains(d.api->id())) {
        for (const char* state : {"downloading", "interrupted", "downloading", "interrupted"}) {
          EXPECT_EQ(d.api->event(id, ++d.seq[id], state).status, 200) << state;
        }
      }
      for (const char* state : {"downloading", "installing", "rebooting", "verifying"}) {
        EXPECT_EQ(d.api->event(id, ++d.seq[id], state).status, 200);
      }
      EXPECT_EQ(d.api->event(id, ++d.seq[id], fail ? "failed" : "committed", fail ? "2.3.0" : "2.4.0").status, 200);
      d.finished_at = ++step;
    }
    return taken;
  }

  // Waits (bounded) until the rollout's status satisfies `done`.
  common::Json wait_for(std::int64_t id, const std::function<bool(const common::Json&)>& done) {
    common::Json view;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
      view = show(id);
      if (done(view)) return view;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "timed out; last view: " << view.dump();
    return view;
  }

  // Polls the fleet until the rollout leaves `running` (bounded).
  void drive(std::int64_t id, const std::set<std::string>& failing = {}) {
    for (auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;) {
      if (poll_all(failing) == 0) {
        auto state = show(id)["state"];
        if (state != "running" && state != "scheduled") break;
        std::this_thread::sleep_for(50ms);
      }
    }
  }

  const ScriptedDevice& device(const std::string& id) const {
    auto found = std::find_if(fleet.begin(), fleet.end(), [&](const ScriptedDevice& d) { return d.api->id() == id; });
    if (found == fleet.end()) throw std::runtime_error("no device " + id + " in the fleet");
    return *found;
  }

  // The dry run's wave lists (the create that follows gets the same id).
  std::vector<std::vector<std::string>> planned_waves(const common::Json& p) {
    auto response = post("/api/v1/rollouts/dry-run", p.dump());
    EXPECT_EQ(response.status, 200) << response.body;
    std::vector<std::vector<std::string>> waves;
    auto plan = response.json();
    for (const auto& w : plan["waves"]) waves.push_back(w["devices"].get<std::vector<std::string>>());
    return waves;
  }

  // Polls every device once after the scheduler committed the offers of
  // wave `k` (the status shows it open with no device left unoffered).
  int take_offers(std::int64_t id, int k, const std::set<std::string>& failing = {}) {
    wait_for(id, [k](const common::Json& v) {
      const auto& waves = v["status"].value("waves", common::Json::array());
      return waves.size() > static_cast<std::size_t>(k) && waves[k]["open"].get<bool>() && waves[k]["pending"].get<int>() == 0;
    });
    return poll_all(failing);
  }

  static common::Json policy(const std::string& name = "gw-os-2.4.0") {
    return {{"name", name},
            {"bundle", {{"name", "gw-os"}, {"version", "2.4.0"}}},
            {"target", {{"device_types", {"gw-x1"}}}},
            {"waves", {{{"name", "canary"}, {"size", "10%"}, {"min_devices", 2}},
                       {{"name", "early"}, {"size", "50%"}},
                       {{"name", "all"}, {"size", "100%"}}}},
            {"failure", {{"max_failure_rate", "20%"}, {"min_finished", 3}, {"action", "pause"}}}};
  }

  std::vector<common::Json> audit(const std::string& action) {
    std::vector<common::Json> out;
    auto entries = admin->request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
    for (const auto& e : entries) {
      if (e["action"] == action) out.push_back(e);
    }
    return out;
  }
};

TEST_F(RolloutApiTest, InvalidPoliciesAreRefusedWithEveryPointer) {
  upload_bundle("2.4.0");
  auto paths_of = [](const cli::ApiResponse& response) {
    std::set<std::string> paths;
    auto body = response.json();
    for (const auto& e : body["errors"]) paths.insert(e["path"].get<std::string>());
    return paths;
  };
  auto bad = policy();
  bad["waves"][1]["size"] = "5%";
  bad["pace"] = {{"max_in_progres", 3}};
  auto response = post("/api/v1/rollouts", bad.dump());
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(paths_of(response), (std::set<std::string>{"/waves/1/size", "/pace/max_in_progres"})) << response.body;

  auto missing = policy();
  missing["bundle"]["version"] = "9.9.9";
  response = post("/api/v1/rollouts", missing.dump());
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(paths_of(response), std::set<std::string>{"/bundle"}) << response.body;

  auto incompatible = policy();
  incompatible["target"]["device_types"] = {"gw-x1", "toaster"};
  response = post("/api/v1/rollouts", incompatible.dump());
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(paths_of(response), std::set<std::string>{"/target/device_types/1"}) << response.body;

  auto unknown_zone = policy();
  unknown_zone["schedule"] = {{"windows", {{{"days", {"sat"}}, {"start", "01:00"}, {"duration", "4h"}, {"tz", "Mars/Olympus"}}}}};
  response = post("/api/v1/rollouts", unknown_zone.dump());
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(paths_of(response), std::set<std::string>{"/schedule/windows/0/tz"}) << response.body;
  EXPECT_EQ(post("/api/v1/rollouts", "{\"name\": ").status, 400);
  EXPECT_TRUE(admin->request("GET", "/api/v1/rollouts")->json()["rollouts"].empty());
}

TEST_F(RolloutApiTest, InterruptionsAreShownApartAndAreNeverFailures) {
  upload_bundle("2.4.0");
  enroll(12);
  for (const auto& d : fleet) interrupted.insert(d.api->id());
  auto id = create(policy());
  drive(id);
  auto view = wait_for(id, [](const common::Json& v) {
    return v["state"] == "completed" && v["status"].value("interruptions", 0) == 24;
  });
  EXPECT_EQ(view["status"]["interrupted_devices"], 12) << view.dump();
  EXPECT_EQ(view["status"]["success_rate"], 1.0);
  EXPECT_EQ(view["status"]["failure_rate"], 0.0);
  EXPECT_FALSE(view["status"]["guard_tripped"].get<bool>());
}

TEST_F(RolloutApiTest, DryRunShowsWavesSkippedAndTheirReasons) {
  upload_bundle("2.4.0");
  enroll(18);
  enroll(2, "2.4.0");  // already there: skipped
  auto response = post("/api/v1/rollouts/dry-run", policy().dump());
  ASSERT_EQ(response.status, 200) << response.body;
  auto plan = response.json();
  // 20 targeted; canary's cap is max(floor(20 × 10%), 2) = 2 places,
  // which the skipped devices may hold — both of them, about once in 190
  // runs (device keys are random), so the canary may place nobody.
  EXPECT_LE(plan["waves"][0]["count"].get<int>(), 2);
  int placed = 0;
  for (const auto& w : plan["waves"]) placed += w["count"].get<int>();
  EXPECT_EQ(placed + plan["unplaced"].get<int>(), 18);
  EXPECT_EQ(plan["skipped_count"], 2);
  EXPECT_EQ(plan["skipped"][0]["reason"], "already runs 2.4.0");
  EXPECT_EQ(post("/api/v1/rollouts/dry-run", policy().dump()).json()["waves"], plan["waves"]);  // deterministic
  EXPECT_TRUE(admin->request("GET", "/api/v1/rollouts")->json()["rollouts"].empty());  // nothing created
}

TEST_F(RolloutApiTest, WalksCanaryEarlyAllAndCompletes) {
  upload_bundle("2.4.0");
  enroll(30);
  auto planned = planned_waves(policy());
  ASSERT_EQ(planned.size(), 3u);
  // Buckets below 10 %, at least min_devices 2, at most max(floor(30 × 10%), 2) = 3.
  EXPECT_GE(planned[0].size(), 2u);
  EXPECT_LE(planned[0].size(), 3u);
  auto id = create(policy());
  drive(id);
  auto view = wait_for(id, [](const common::Json& v) { return v["state"] == "completed"; });
  EXPECT_EQ(view["status"]["success_rate"], 1.0);
  // Every device was offered exactly once, in the wave the dry run showed,
  // and no device of a wave before every device of the wave before it had
  // finished (the next wave opens when the one before completes).
  std::size_t total = 0;
  for (std::size_t k = 0; k < planned.size(); ++k) {
    total += planned[k].size();
    for (const auto& id_k : planned[k]) {
      ASSERT_GT(device(id_k).offered_at, 0) << id_k << " was never offered";
      if (k == 0) continue;
      for (const auto& earlier : planned[k - 1]) {
        EXPECT_GT(device(id_k).offered_at, device(earlier).finished_at) << id_k << " offered before " << earlier << " finished";
      }
    }
  }
  EXPECT_EQ(total, 30u);
  for (const auto& d : fleet) EXPECT_EQ(d.offered.size(), 1u) << d.api->id();
  EXPECT_EQ(audit("rollout.wave.completed").size(), 3u);
  EXPECT_EQ(audit("rollout.completed").size(), 1u);
  auto metrics = admin->request("GET", "/metrics")->body;
  EXPECT_NE(metrics.find("flotilla_rollouts{state=\"completed\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("flotilla_rollout_devices{state=\"succeeded\"} 30"), std::string::npos);
  // The rollout view of compliance: its 30 devices, none pending any more,
  // each with the status the device view gives (one function for both).
  auto report = admin->request("GET", "/api/v1/compliance?rollout=" + std::to_string(id))->json();
  EXPECT_EQ(report["summary"]["devices"], 30);
  EXPECT_EQ(report["summary"]["by_status"]["pending"], 0);
  for (const auto& row : report["rows"]) {
    auto shown = admin->request("GET", "/api/v1/devices/" + row["device_id"].get<std::string>())->json();
    EXPECT_EQ(shown["compliance"]["status"], row["device_status"]);
  }
}

TEST_F(RolloutApiTest, ManualApprovalHoldsTheNextWave) {
  upload_bundle("2.4.0");
  enroll(10);
  auto p = policy();
  p["waves"][0]["approval"] = "manual";
  p["waves"][0]["soak"] = "1s";
  p["waves"][1]["min_devices"] = 2;
  auto planned = planned_waves(p);
  auto id = create(p);
  EXPECT_EQ(take_offers(id, 0), static_cast<int>(planned[0].size()));
  auto waiting = wait_for(id, [](const common::Json& v) { return v["status"].value("waiting_for", "") == "approval"; });
  EXPECT_EQ(waiting["status"]["waiting_wave"], 0);
  EXPECT_EQ(poll_all(), 0);  // nothing while it waits
  // Approval while paused counts once it resumes.
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/pause").status, 200);
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/approve").status, 200);
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/approve", R"({"wave": "all"})").status, 422);  // needs none
  EXPECT_EQ(poll_all(), 0);
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/resume").status, 200);
  EXPECT_EQ(take_offers(id, 1), static_cast<int>(planned[1].size()));
  ASSERT_EQ(audit("rollout.approve").size(), 1u);
  EXPECT_EQ(audit("rollout.approve")[0]["details"]["wave"], "canary");
}

TEST_F(RolloutApiTest, FailureBurstPausesThenResumeAndAbortBehave) {
  upload_bundle("2.4.0");
  enroll(20);
  auto p = policy();
  p["waves"][0] = {{"name", "canary"}, {"size", "25%"}, {"min_devices", 4}};
  auto planned = planned_waves(p);
  auto id = create(p);
  // Every canary device fails: all of them > 20 % once 3 finished.
  std::set<std::string> failing;
  for (const auto& d : fleet) failing.insert(d.api->id());
  EXPECT_EQ(take_offers(id, 0, failing), static_cast<int>(planned[0].size()));
  auto paused = wait_for(id, [](const common::Json& v) { return v["state"] == "paused"; });
  EXPECT_NE(paused["reason"].get<std::string>().find("failure guard"), std::string::npos) << paused.dump();
  EXPECT_EQ(poll_all(), 0);
  ASSERT_EQ(audit("rollout.paused").size(), 1u);
  EXPECT_EQ(audit("rollout.paused")[0]["details"]["cause"], "guard");

  // Resume acknowledges the failures seen: the guard judges what follows.
  // The canary wave stays below its success threshold (100 %), so nothing
  // new opens, and the operator aborts.
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/resume").status, 200);
  auto resumed = wait_for(id, [](const common::Json& v) { return v["status"].value("waiting_for", "") == "success_threshold"; });
  EXPECT_EQ(resumed["state"], "running");
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/resume").status, 409);  // not paused
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/abort", R"({"rollback": true})").status, 422);  // no rollback bundle
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/abort").status, 200);
  EXPECT_EQ(show(id)["state"], "aborted");
  EXPECT_EQ(poll_all(), 0);
  EXPECT_EQ(post("/api/v1/rollouts/" + std::to_string(id) + "/resume").status, 409);
}

TEST_F(RolloutApiTest, AbortAndRollbackOffersTheOldBundleToUpdatedDevices) {
  upload_bundle("2.3.0");
  upload_bundle("2.4.0");
  enroll(12);
  auto p = policy();
  p["waves"][0] = {{"name", "canary"}, {"size", "25%"}, {"min_devices", 3}};
  p["waves"][1]["min_devices"] = 2;
  p["failure"] = {{"max_failure_rate", "10%"}, {"min_finished", 4}, {"action", "abort_and_rollback"}};
  p["on_abort"] = {{"rollback_bundle", {{"name", "gw-os"}, {"version", "2.3.0"}}}};
  auto planned = planned_waves(p);
  auto id = create(p);
  EXPECT_EQ(take_offers(id, 0), static_cast<int>(planned[0].size()));  // the canary succeeds
  std::set<std::string> failing(planned[1].begin(), planned[1].end());
  EXPECT_EQ(take_offers(id, 1, failing), static_cast<int>(planned[1].size()));  // early fails: ≥ 2 of ≥ 5 > 10 %
  auto aborted = wait_for(id, [](const common::Json& v) { return v["state"] == "aborted"; });
  ASSERT_FALSE(aborted["rollback_deployment_id"].is_null()) << aborted.dump();
  // The canary devices that took 2.4.0 are offered 2.3.0; nobody else is.
  wait_for(id, [&](const common::Json&) { return !audit("rollout.device.rollback_offered").empty(); });
  std::set<std::string> rolled;
  for (auto& d : fleet) {
    auto update = d.api->poll().json()["update"];
    if (update.is_null()) continue;
    rolled.insert(d.api->id());
    EXPECT_EQ(update["deployment_id"], aborted["rollback_deployment_id"]);
    EXPECT_EQ(update["allow_downgrade"], true);
  }
  EXPECT_EQ(rolled, std::set<std::string>(planned[0].begin(), planned[0].end()));
}

TEST_F(RolloutApiTest, ServerKilledMidRolloutLosesNothingAndOffersNobodyTwice) {
  upload_bundle("2.4.0");
  enroll(20);
  auto planned = planned_waves(policy());
  auto id = create(policy());
  EXPECT_EQ(take_offers(id, 0), static_cast<int>(planned[0].size()));
  // Power cuts while the scheduler runs, each followed by a restart on the same data.
  for (int i = 0; i < 3; ++i) {
    server->kill9();
    server->start(serve_args());
    for (auto& d : fleet) {
      d.api->reconnect(server->url());
      ASSERT_EQ(d.api->auth().status, 200);
    }
    admin = std::make_unique<cli::ApiClient>(admin_client());
    poll_all();
  }
  drive(id);
  wait_for(id, [](const common::Json& v) { return v["state"] == "completed"; });
  for (const auto& d : fleet) EXPECT_EQ(d.offered.size(), 1u) << d.api->id();
  std::map<std::string, int> offers;
  for (const auto& e : audit("rollout.device.offered")) {
    for (const auto& device : e["details"]["devices"]) ++offers[device.get<std::string>()];
  }
  EXPECT_EQ(offers.size(), 20u);
  for (const auto& [device, count] : offers) EXPECT_EQ(count, 1) << device;
  EXPECT_EQ(admin->request("GET", "/api/v1/audit/verify")->json()["valid"], true);
}

// A one-hour window every day, starting six hours from now (UTC).
common::Json closed_window() {
  auto now = std::chrono::floor<std::chrono::hours>(common::now_utc());
  auto hour = (now.time_since_epoch().count() + 6) % 24;
  char start[16];
  std::snprintf(start, sizeof start, "%02d:00", static_cast<int>(hour));
  return {{"days", {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}, {"start", start}, {"duration", "1h"}, {"tz", "UTC"}};
}

TEST_F(RolloutApiTest, WindowsForAllHoldOffersUntilTheWindowOpens) {
  upload_bundle("2.4.0");
  enroll(4);
  auto p = policy();
  p["schedule"] = {{"windows", {closed_window()}}, {"windows_apply_to", "all"}};
  auto id = create(p);
  auto view = wait_for(id, [](const common::Json& v) {
    return v["status"].value("held_by", "").find("maintenance window") != std::string::npos;
  });
  EXPECT_EQ(poll_all(), 0);
  EXPECT_EQ(view["state"], "running");
}

TEST_F(RolloutApiTest, ActivateWindowsTravelWithTheOffer) {
  upload_bundle("2.4.0");
  enroll(4);
  auto p = policy();
  p["waves"] = {{{"name", "all"}, {"size", "100%"}}};
  p["schedule"] = {{"windows", {closed_window()}}, {"windows_apply_to", "activate"}};
  p["deadline"] = "2099-01-01T00:00:00Z";
  p["enforce_after_deadline"] = true;
  auto id = create(p);
  wait_for(id, [](const common::Json& v) { return v["status"].value("waiting_for", "") == "devices" &&
                                                  v["status"]["waves"][0]["pending"] == 0; });
  auto update = fleet[0].api->poll().json()["update"];
  ASSERT_FALSE(update.is_null());
  const auto& window = update["activate_window"];
  ASSERT_TRUE(window.is_object()) << update.dump();
  auto start = common::parse_rfc3339(window["start"].get<std::string>());
  auto end = common::parse_rfc3339(window["end"].get<std::string>());
  ASSERT_TRUE(start && end);
  EXPECT_GT(*start, common::now_utc() + std::chrono::hours(4));
  EXPECT_EQ(*end - *start, std::chrono::hours(1));
  EXPECT_EQ(window["until"], "2099-01-01T00:00:00Z");
}

TEST_F(RolloutApiTest, DriverWaitsForTheOsItRequiresThenFollows) {
  upload_bundle("2.4.0");
  auto driver = testing::sample_manifest();
  driver.name = "wifi-driver";
  driver.kind = artifacts::Kind::kDriver;
  driver.component = "wifi";
  driver.version = *common::Version::parse("1.2.0");
  driver.requires_ = {{"rootfs", *common::VersionRange::parse(">=2.4.0")}};
  upload_bundle_of(driver);
  enroll(6);
  // The driver rollout is created first; every device is blocked on rootfs.
  common::Json driver_policy = {{"name", "wifi-1.2.0"}, {"bundle", {{"name", "wifi-driver"}, {"version", "1.2.0"}}},
                                {"target", {{"device_types", {"gw-x1"}}}}, {"waves", {{{"name", "all"}, {"size", "100%"}}}}};
  auto plan = post("/api/v1/rollouts/dry-run", driver_policy.dump()).json();
  EXPECT_EQ(plan["blocked_count"], 6);
  EXPECT_EQ(plan["blocked"][0]["reason"], "needs rootfs >=2.4.0, runs 2.3.0");
  auto driver_id = create(driver_policy);
  wait_for(driver_id, [](const common::Json& v) { return v["status"].value("blocked", 0) == 6; });
  EXPECT_EQ(poll_all(), 0);

  auto os = policy("os-2.4.0");
  os["waves"] = {{{"name", "all"}, {"size", "100%"}}};
  auto os_id = create(os);
  EXPECT_EQ(take_offers(os_id, 0), 6);
  // The devices report their new OS; the driver rollout then offers them.
  for (auto& d : fleet) ASSERT_EQ(d.api->inventory(++d.counter, "2.4.0", 1).status, 200);
  wait_for(driver_id, [](const common::Json& v) { return v["status"].value("blocked", -1) == 0; });
  EXPECT_EQ(take_offers(driver_id, 0), 6);
  std::vector<std::int64_t> order = {show(os_id)["deployment_id"], show(driver_id)["deployment_id"]};
  for (const auto& d : fleet) EXPECT_EQ(d.offered, order);  // the OS first, then the driver
}

TEST_F(RolloutApiTest, DevicesJoiningLaterAreOffered) {
  upload_bundle("2.4.0");
  enroll(3);
  auto p = policy();
  p["waves"] = {{{"name", "all"}, {"size", "100%"}}};
  auto id = create(p);
  EXPECT_EQ(take_offers(id, 0), 3);
  wait_for(id, [](const common::Json& v) { return v["state"] == "completed"; });
  enroll(2);  // they match the target after the rollout finished
  wait_for(id, [](const common::Json& v) { return v["status"]["waves"][0]["eligible"] == 5; });
  EXPECT_EQ(take_offers(id, 0), 2);
}

}  // namespace
}  // namespace flotilla
