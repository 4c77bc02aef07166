// Devices running Debian's swupdate (suricatta, hawkBit DDI), unchanged,
// updated by Flotilla rollouts against the real server: label ddi.
#include <gtest/gtest.h>
#include <set>
#include <thread>

#include "common/json.hpp"
#include "server/ddi/ddi.hpp"
#include "tests/support/cutting_proxy.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/swupdate_device.hpp"

namespace flotilla::testing {
namespace {

using namespace std::chrono_literals;
using common::Json;

class DdiSwupdateTest : public RunningServer {
 protected:
  std::unique_ptr<SwuVendor> vendor;
  std::unique_ptr<cli::ApiClient> admin;
  std::vector<std::unique_ptr<SwupdateDevice>> devices;
  // Where the devices reach the server: the server itself, or a proxy.
  std::string device_url;

  std::vector<std::string> serve_args() const override {
    // The default deployment (behind its nginx front); the shortest poll
    // the server allows; the scheduler decides at once.
    return {"--poll-interval", "5", "--scheduler-interval", "0.2"};
  }

  void SetUp() override {
    std::string why;
    // Run, never skipped: scripts/setup installs swupdate, and CI is root.
    ASSERT_TRUE(swupdate_available(why)) << why;
    RunningServer::SetUp();
    vendor = std::make_unique<SwuVendor>(dir / "vendor");
    admin = std::make_unique<cli::ApiClient>(admin_client());
    device_url = server->url();
  }

  // Wraps a vendor image in a release-signed bundle and uploads it.
  void upload_swu(const std::string& version, const std::string& content, bool wrong_hash = false) {
    auto image = vendor->make_image("app", version, "app.bin", content, wrong_hash);
    artifacts::Manifest m = sample_manifest();
    m.name = "app-fw";
    m.kind = artifacts::Kind::kFirmware;
    m.component = "app";
    m.version = *common::Version::parse(version);
    m.security_version = 1;
    m.compatible = {"sw-x1"};
    m.requires_.clear();
    artifacts::Payload swu{.name = "app.swu", .type = artifacts::PayloadType::kSwu};
    auto out = dir / ("app-" + version + ".flb");
    ASSERT_TRUE(artifacts::write_bundle({m, {{swu, image}}}, {&trust.release_key}, out));
    auto response = admin->upload("/api/v1/bundles", out);
    ASSERT_EQ(response->status, 201) << response->body;
  }

  // Restarts the server with the devices' traffic (and the links it
  // gives them) going through `proxy`.
  void serve_through(CuttingProxy& proxy) {
    device_url = proxy.url();
    server->stop();
    server->keep_port();
    auto args = serve_args();
    args.insert(args.end(), {"--public-url", proxy.url()});
    server->start(args);
    proxy.set_target(std::stoi(server->url().substr(server->url().rfind(':') + 1)));
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }

  Json register_device(const std::string& controller_id) {
    auto created = admin->request("POST", "/api/v1/devices/ddi",
                                  Json{{"controller_id", controller_id}, {"device_type", "sw-x1"}, {"labels", {{"fleet", "swu"}}}}.dump());
    EXPECT_EQ(created->status, 201) << created->body;
    return created->json();
  }

  SwupdateDevice& add_device(const std::string& controller_id) {
    auto created = register_device(controller_id);
    devices.push_back(std::make_unique<SwupdateDevice>(dir / controller_id, device_url, controller_id,
                                                       created["target_token"].get<std::string>(), vendor->certificate()));
    return *devices.back();
  }

  std::int64_t start_rollout(const Json& extra = Json::object()) {
    Json policy = {{"name", "swu"}, {"bundle", {{"name", "app-fw"}, {"version", "2.0.0"}}},
                   {"target", {{"device_types", {"sw-x1"}}}},
                   {"waves", {{{"name", "canary"}, {"size", "34%"}, {"min_devices", 1}}, {{"name", "all"}, {"size", "100%"}}}}};
    policy.update(extra);
    auto created = admin->request("POST", "/api/v1/rollouts", policy.dump());
    EXPECT_EQ(created->status, 201) << created->body;
    return created->json().value("id", 0);
  }

  Json rollout(std::int64_t id) { return admin->request("GET", "/api/v1/rollouts/" + std::to_string(id))->json(); }

  // The device's state in the rollout's deployment ("" before an offer).
  std::string state_of(std::int64_t deployment, const SwupdateDevice& device) {
    auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
    for (const auto& d : shown["devices"]) {
      if (d["device_id"] == server::ddi::device_id_for(device.controller_id())) return d["state"];
    }
    return "";
  }

  std::string logs() const {
    std::string all = "server:\n" + server->log();
    for (const auto& d : devices) all += "\n--- " + d->controller_id() + ":\n" + d->log().substr(0, 20000);
    return all;
  }

  // Runs the devices until each is `final` in the deployment: a device
  // whose install finished ("installing": waiting for its reboot) is
  // restarted with -c 2, as its boot would after a successful test.
  bool run_until_final(std::int64_t deployment, std::chrono::seconds limit, const std::set<std::string>& finals = {"succeeded"}) {
    for (auto& d : devices) d->start();
    std::set<std::string> confirmed;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all_final = true;
      for (auto& d : devices) {
        auto state = state_of(deployment, *d);
        if (state == "installing" && confirmed.insert(d->controller_id()).second) d->start("2");
        all_final = all_final && (finals.contains(state) || state == "failed");
      }
      if (all_final) return true;
      std::this_thread::sleep_for(500ms);
    }
    return false;
  }
};

TEST_F(DdiSwupdateTest, ARolloutOfTwoWavesUpdatesSwupdateDevicesAndCountsThemInCompliance) {
  const std::string firmware(200000, 'f');
  upload_swu("2.0.0", firmware + "2.0.0");
  for (const char* id : {"swu-1", "swu-2", "swu-3"}) add_device(id);
  auto id = start_rollout();
  auto deployment = rollout(id)["deployment_id"].get<std::int64_t>();
  ASSERT_TRUE(run_until_final(deployment, 150s)) << rollout(id).dump() << "\n" << logs();

  for (const auto& d : devices) {
    EXPECT_EQ(state_of(deployment, *d), "succeeded") << logs();
    EXPECT_EQ(read_text(d->installed("app.bin")), firmware + "2.0.0") << d->controller_id();
  }
  auto shown = rollout(id);
  EXPECT_EQ(shown["state"], "completed") << shown.dump();
  EXPECT_EQ(shown["status"]["waves"][0]["succeeded"], 1) << shown.dump();

  // Listed as devices of the fleet, with their protocol and configData.
  auto listed = admin->request("GET", "/api/v1/devices?label=fleet%3Dswu")->json();
  ASSERT_EQ(listed["devices"].size(), 3u) << listed.dump();
  for (const auto& d : listed["devices"]) {
    EXPECT_EQ(d["protocol"], "ddi");
    EXPECT_EQ(d["auth"], "target-token");
  }
  // The compliance report counts them, with the kind of evidence.
  auto report = admin->request("GET", "/api/v1/compliance?type=sw-x1");
  ASSERT_EQ(report->status, 200) << report->body;
  int rows = 0;
  auto rows_json = report->json()["rows"];
  for (const auto& row : rows_json) {
    if (row["component"] != "app") continue;
    ++rows;
    EXPECT_EQ(row["installed_version"], "2.0.0") << row.dump();
    EXPECT_EQ(row["evidence"], "self-reported (ddi)") << row.dump();
    EXPECT_EQ(row["last_update_result"], "succeeded") << row.dump();
  }
  EXPECT_EQ(rows, 3) << report->body.substr(0, 4000);
  auto audit = admin->request("GET", "/api/v1/audit/verify");
  EXPECT_EQ(audit->status, 200) << audit->body;
  EXPECT_TRUE(audit->json().value("valid", false)) << audit->body;
}

TEST_F(DdiSwupdateTest, AWrongPayloadHashFailsTheCanaryAndTheFailureGuardPausesTheRollout) {
  upload_swu("2.0.0", std::string(100000, 'x'), /*wrong_hash=*/true);
  for (const char* id : {"swu-1", "swu-2", "swu-3"}) add_device(id);
  auto id = start_rollout({{"failure", {{"max_failure_rate", "0%"}, {"action", "pause"}}}});
  auto deployment = rollout(id)["deployment_id"].get<std::int64_t>();
  for (auto& d : devices) d->start();
  // The canary downloads, swupdate refuses the image and says so.
  Json shown;
  for (int i = 0; i < 120; ++i) {
    shown = rollout(id);
    if (shown["state"] == "paused") break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(shown["state"], "paused") << shown.dump() << "\n" << logs();
  int failed = 0, untouched = 0;
  for (const auto& d : devices) {
    auto state = state_of(deployment, *d);
    failed += state == "failed";
    untouched += state.empty() || state == "pending";
    EXPECT_FALSE(std::filesystem::exists(d->installed("app.bin"))) << d->controller_id();
  }
  EXPECT_EQ(failed, 1) << logs();
  EXPECT_EQ(untouched, 2) << "the second wave must not have started";
}

TEST_F(DdiSwupdateTest, ADownloadCutMidwayResumesWithRange) {
  // Every connection through the proxy is cut after 60 KB: the 300 KB
  // image arrives only if swupdate resumes where it was cut.
  CuttingProxy proxy(60000);
  serve_through(proxy);
  const std::string firmware(300000, 'r');
  upload_swu("2.0.0", firmware);
  add_device("swu-1");
  auto id = start_rollout({{"waves", {{{"name", "all"}, {"size", "100%"}}}}});
  auto deployment = rollout(id)["deployment_id"].get<std::int64_t>();
  ASSERT_TRUE(run_until_final(deployment, 120s)) << logs();
  EXPECT_EQ(state_of(deployment, *devices[0]), "succeeded") << logs();
  EXPECT_EQ(read_text(devices[0]->installed("app.bin")), firmware);
  EXPECT_GE(proxy.connections(), 5) << "the download was never cut";
}

TEST_F(DdiSwupdateTest, ADeviceWithTheGatewayTokenWaitsForAcceptanceThenUpdates) {
  auto created = admin->request("POST", "/api/v1/ddi/gateway-token", R"({"device_type": "sw-x1"})");
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string firmware(50000, 'g');
  upload_swu("2.0.0", firmware);
  devices.push_back(std::make_unique<SwupdateDevice>(dir / "swu-g", device_url, "swu-g", created->json()["gateway_token"].get<std::string>(),
                                                     vendor->certificate()));
  auto& device = *devices.back();
  device.start();
  // Its first poll registers it, pending.
  auto id = server::ddi::device_id_for("swu-g");
  Json shown = Json::object();
  for (int i = 0; i < 50 && shown.value("status", "") != "pending"; ++i) {
    std::this_thread::sleep_for(200ms);
    shown = admin->request("GET", "/api/v1/devices/" + id)->json();
  }
  ASSERT_EQ(shown.value("status", ""), "pending") << shown.dump() << "\n" << logs();
  ASSERT_EQ(admin->request("POST", "/api/v1/devices/" + id + "/accept")->status, 200);
  auto rollout_id = start_rollout({{"waves", {{{"name", "all"}, {"size", "100%"}}}}});
  auto deployment = rollout(rollout_id)["deployment_id"].get<std::int64_t>();
  ASSERT_TRUE(run_until_final(deployment, 90s)) << logs();
  EXPECT_EQ(state_of(deployment, device), "succeeded") << logs();
  EXPECT_EQ(read_text(device.installed("app.bin")), firmware);
}

TEST_F(DdiSwupdateTest, AnAbortedRolloutCancelsADownloadAndSwupdateAcknowledges) {
  // A slow link: the 400 KB image takes about 20 s, time to abort while
  // swupdate downloads (it asks for cancels every poll interval).
  CuttingProxy proxy(SIZE_MAX);
  proxy.set_rate_to_clients(20000);
  serve_through(proxy);
  upload_swu("2.0.0", std::string(400000, 'c'));
  auto& device = add_device("swu-1");
  auto id = start_rollout({{"waves", {{{"name", "all"}, {"size", "100%"}}}}});
  auto deployment = rollout(id)["deployment_id"].get<std::int64_t>();
  device.start();
  std::string state;
  for (int i = 0; i < 100 && state != "downloading"; ++i) {
    std::this_thread::sleep_for(200ms);
    state = state_of(deployment, device);
  }
  ASSERT_EQ(state, "downloading") << logs();
  ASSERT_EQ(admin->request("POST", "/api/v1/rollouts/" + std::to_string(id) + "/abort", "{}")->status, 200);
  for (int i = 0; i < 120 && state == "downloading"; ++i) {
    std::this_thread::sleep_for(250ms);
    state = state_of(deployment, device);
  }
  EXPECT_EQ(state, "failed") << logs();
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_NE(shown["devices"][0]["message"].get<std::string>().find("canceled"), std::string::npos) << shown.dump();
  EXPECT_FALSE(std::filesystem::exists(device.installed("app.bin"))) << "a canceled image was installed";
}

}  // namespace
}  // namespace flotilla::testing
