// A running server and a simulated fleet for the end-to-end tests: the
// simulator in the background, waits with deadlines for enrollment and
// rollouts, and the rollout policy the tests share.
#pragma once

#include <chrono>
#include <set>
#include <thread>

#include "tests/support/fleet_sim_process.hpp"
#include "tests/support/server_fixture.hpp"

namespace flotilla::testing {

using namespace std::chrono_literals;

// flotilla-fleet-sim in the background, in the test's directory.
class Sim : public FleetSimProcess {
 public:
  Sim(const std::filesystem::path& dir, const std::string& args) : FleetSimProcess(FLOTILLA_SIM, dir, args) {}
};

class FleetTest : public RunningServer {
 protected:
  std::vector<std::string> serve_args() const override { return {"--scheduler-interval", "1"}; }

  std::string start_fleet_args(int devices, const std::string& faults) {
    write_text(dir / "enroll.token", enrollment_token(R"(["gw-x1"])", std::max(devices, 1)));
    return "--server " + api_url() + " --enrollment-token-file '" + (dir / "enroll.token").string() +
           "' --trust-root '" + (dir / "root.json").string() + "' --devices " + std::to_string(devices) +
           " --types gw-x1 --initial rootfs=2.3.0 --poll-interval 1s --duration 10m " + faults;
  }

  std::int64_t accepted_devices() {
    auto list = admin_client().request("GET", "/api/v1/devices?status=accepted&limit=1000");
    return list && list->ok() ? static_cast<std::int64_t>(list->json()["devices"].size()) : -1;
  }

  template <class Done>
  common::Json wait_for_rollout(std::int64_t id, Done done, std::chrono::seconds limit = 120s) {
    common::Json view;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto response = admin_client().request("GET", "/api/v1/rollouts/" + std::to_string(id));
      if (response && response->ok()) {
        view = response->json();
        if (done(view)) return view;
      }
      std::this_thread::sleep_for(500ms);
    }
    ADD_FAILURE() << "rollout " << id << " never got there: " << view.dump();
    return view;
  }

  // Devices whose installed version the server knows from a signed inventory.
  std::int64_t reporting_devices() {
    auto report = admin_client().request("GET", "/api/v1/compliance");
    if (!report || !report->ok()) return -1;
    auto document = report->json();  // kept: a range-for over a temporary's member would dangle
    std::set<std::string> reported;
    for (const auto& row : document["rows"]) {
      if (row["installed_version"].is_string()) reported.insert(row["device_id"].get<std::string>());
    }
    return static_cast<std::int64_t>(reported.size());
  }

  // Enrolled and inventoried: before its first inventory a device's version
  // is unknown, so a bundle that `requires` one holds it as blocked, and a
  // dry run taken then differs from the rollout that follows.
  void wait_for_enrollment(std::int64_t devices) {
    for (int i = 0; i < 120 && accepted_devices() < devices; ++i) std::this_thread::sleep_for(500ms);
    ASSERT_EQ(accepted_devices(), devices) << read_text(dir / "sim.err");
    for (int i = 0; i < 60 && reporting_devices() < devices; ++i) std::this_thread::sleep_for(500ms);
    ASSERT_EQ(reporting_devices(), devices) << read_text(dir / "sim.err");
  }

  std::int64_t create_rollout(const std::string& policy) {
    auto created = admin_client().request("POST", "/api/v1/rollouts", policy);
    EXPECT_EQ(created->status, 201) << created->body;
    return created->json()["id"];
  }
};

inline std::string policy_for(const std::string& version, const std::string& canary) {
  return R"({"name": "os-)" + version + R"(", "bundle": {"name": "gw-os", "version": ")" + version + R"("},
    "target": {"device_types": ["gw-x1"]},
    "waves": [{"name": "canary", "size": ")" + canary + R"(", "min_devices": 4}, {"name": "all", "size": "100%"}],
    "failure": {"max_failure_rate": "20%", "min_finished": 3, "action": "pause"},
    "device_timeout": "10m"})";
}

inline bool finished(const common::Json& view) {
  return view["state"] == "completed" || view["state"] == "paused" || view["state"] == "aborted";
}

}  // namespace flotilla::testing
