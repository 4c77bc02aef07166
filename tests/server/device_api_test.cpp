// The device API against the real server: enrollment paths, replay and
// forgery refusal, signed inventory and tamper signals, deployments from
// offer to commit or rollback, bundle downloads only for assigned devices.
#include <gtest/gtest.h>
#include <thread>

#include "common/encoding.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::ServerProcess;
using testing::TempDir;
using testing::TestDevice;
using testing::write_text;

class DeviceApiTest : public testing::RunningServer {
 protected:
  std::unique_ptr<cli::ApiClient> admin;

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }

  std::int64_t deploy(const std::string& bundle, const std::vector<std::string>& devices, int expected = 201) {
    auto response = admin->request("POST", "/api/v1/deployments", common::Json{{"bundle", bundle}, {"devices", devices}}.dump());
    EXPECT_EQ(response->status, expected) << response->body;
    return response->status == 201 ? response->json()["id"].get<std::int64_t>() : 0;
  }

  common::Json device_view(const std::string& id) { return admin->request("GET", "/api/v1/devices/" + id)->json(); }
};

TEST_F(DeviceApiTest, EnrollmentTokenAcceptsAtOnce) {
  TestDevice device(server->url(), "gw-x1", "SN1");
  auto response = device.auth(enrollment_token());
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.json()["device_id"], device.id());
  EXPECT_EQ(device.poll().status, 200);
  EXPECT_EQ(device_view(device.id())["status"], "accepted");
  // Authenticating again (e.g. after the token expired) needs no enrollment token.
  EXPECT_EQ(device.auth().status, 200);
}

TEST_F(DeviceApiTest, WithoutTokenPendingUntilAccepted) {
  TestDevice device(server->url(), "gw-x1", "SN2");
  EXPECT_EQ(device.auth().status, 202);
  EXPECT_EQ(device.poll().status, 401);
  auto pending = admin->request("GET", "/api/v1/devices?status=pending")->json()["devices"];
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(admin->request("POST", "/api/v1/devices/" + device.id() + "/accept")->status, 200);
  ASSERT_EQ(device.auth().status, 200);
  EXPECT_EQ(device.poll().status, 200);
}

TEST_F(DeviceApiTest, RejectedAndDecommissionedDevicesAreShutOut) {
  TestDevice rejected(server->url(), "gw-x1", "SN3");
  EXPECT_EQ(rejected.auth().status, 202);
  EXPECT_EQ(admin->request("POST", "/api/v1/devices/" + rejected.id() + "/reject")->status, 200);
  EXPECT_EQ(rejected.auth().status, 403);

  TestDevice retired(server->url(), "gw-x1", "SN4");
  ASSERT_EQ(retired.auth(enrollment_token()).status, 200);
  EXPECT_EQ(admin->request("POST", "/api/v1/devices/" + retired.id() + "/decommission")->status, 200);
  EXPECT_EQ(retired.poll().status, 401);  // its token was revoked
  EXPECT_EQ(retired.auth().status, 403);
}

TEST_F(DeviceApiTest, BadEnrollmentTokensCreateNothing) {
  std::string wrong_type = enrollment_token(R"(["gw-x2"])");
  std::string used_up = enrollment_token(R"(["gw-x1"])", 1);
  TestDevice first(server->url(), "gw-x1", "A");
  ASSERT_EQ(first.auth(used_up).status, 200);
  auto revoked_response = admin->request("POST", "/api/v1/enrollment-tokens",
                                         R"({"name": "r", "device_types": ["gw-x1"], "max_uses": 5, "expires_at": "2099-01-01T00:00:00Z"})");
  std::string revoked = revoked_response->json()["token"];
  ASSERT_EQ(admin->request("DELETE", "/api/v1/enrollment-tokens/" + std::to_string(revoked_response->json()["id"].get<int>()))->status, 200);
  for (const auto& [token, label] : std::vector<std::pair<std::string, std::string>>{
           {wrong_type, "wrong type"}, {used_up, "used up"}, {revoked, "revoked"}, {"enr_" + std::string(64, '0'), "unknown"}}) {
    TestDevice device(server->url(), "gw-x1", "B-" + label);
    auto response = device.auth(token);
    EXPECT_EQ(response.status, 403) << label << ": " << response.body;
    EXPECT_EQ(admin->request("GET", "/api/v1/devices/" + device.id())->status, 404) << label;
  }
  EXPECT_EQ(admin->request("POST", "/api/v1/enrollment-tokens",
                           R"({"name": "old", "device_types": ["gw-x1"], "max_uses": 1, "expires_at": "2020-01-01T00:00:00Z"})")->status,
            400);
}

TEST_F(DeviceApiTest, ReplayedStaleAndForgedAuthRequestsAreRefused) {
  TestDevice device(server->url(), "gw-x1", "SN5");
  std::string token = enrollment_token();
  std::string body = device.auth_body(token, common::format_rfc3339(common::now_utc()), "nonce-0123456789abcdef");
  auto headers = device.signed_headers(body);
  EXPECT_EQ(device.request("POST", "/api/v1/device/auth", body, headers).status, 200);
  auto replay = device.request("POST", "/api/v1/device/auth", body, headers);
  EXPECT_EQ(replay.status, 401);
  EXPECT_NE(replay.body.find("replay"), std::string::npos);

  std::string stale = device.auth_body(token, common::format_rfc3339(common::now_utc() - std::chrono::minutes(10)),
                                       "nonce-stale-0123456789");
  EXPECT_EQ(device.request("POST", "/api/v1/device/auth", stale, device.signed_headers(stale)).status, 401);

  auto stranger = testing::make_key();
  std::string fresh = device.auth_body(token, common::format_rfc3339(common::now_utc()), "nonce-forged-0123456789");
  EXPECT_EQ(device.request("POST", "/api/v1/device/auth", fresh, device.signed_headers(fresh, &stranger)).status, 401);
  auto tampered = fresh;
  tampered.replace(tampered.find("SN5"), 3, "SN6");
  EXPECT_EQ(device.request("POST", "/api/v1/device/auth", tampered, device.signed_headers(fresh)).status, 401);
  EXPECT_EQ(device.request("POST", "/api/v1/device/auth", fresh).status, 401);  // unsigned
}

TEST_F(DeviceApiTest, SignedInventoryWithIncreasingCounterAndTamperSignal) {
  TestDevice device(server->url(), "gw-x1", "SN7");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto first = device.inventory(1, "2.3.0", 5);
  ASSERT_EQ(first.status, 200) << first.body;
  std::string digest = first.json()["digest"];
  EXPECT_FALSE(device.poll(digest).json()["inventory_required"].get<bool>());
  EXPECT_TRUE(device.poll(std::string(64, '0')).json()["inventory_required"].get<bool>());
  EXPECT_EQ(device.inventory(1, "2.3.0", 5).status, 409);  // counter not above the last
  // Another key signing as this device is refused and changes nothing.
  auto stranger = testing::make_key();
  std::string body = R"({"counter": 9, "timestamp": "2026-11-24T19:00:00Z", "components": {}})";
  EXPECT_EQ(device.request("PUT", "/api/v1/device/inventory", body, device.signed_headers(body, &stranger)).status, 401);
  EXPECT_EQ(device_view(device.id())["report_counter"], 1);
  EXPECT_EQ(device.inventory(2, "2.3.0", 5, /*tamper_ok=*/false).status, 200);
  auto view = device_view(device.id());
  EXPECT_TRUE(view["tampered"].get<bool>());
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.3.0");
  auto audit = admin->request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  EXPECT_EQ(std::count_if(audit.begin(), audit.end(), [](const auto& e) { return e["action"] == "device.tamper"; }), 1);
  EXPECT_EQ(device.request("PUT", "/api/v1/device/inventory", "{\"counter\": 3}", device.signed_headers("{\"counter\": 3}")).status, 400);
}

TEST_F(DeviceApiTest, MalformedSignedBodiesAreRefusedOnEveryDeviceRoute) {
  TestDevice device(server->url(), "gw-x1", "BAD");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  for (const std::string garbage : {"{", "[]", "{\"counter\": 1.5}", "{\"seq\": 1, \"seq\": 2}"}) {
    EXPECT_EQ(device.request("POST", "/api/v1/device/poll", garbage).status, 400) << garbage;
    EXPECT_EQ(device.request("PUT", "/api/v1/device/inventory", garbage, device.signed_headers(garbage)).status, 400) << garbage;
    EXPECT_EQ(device.request("POST", "/api/v1/device/deployments/1/events", garbage, device.signed_headers(garbage)).status, 400)
        << garbage;
  }
  EXPECT_EQ(device.request("POST", "/api/v1/device/poll", std::string(5000, ' ')).status, 413);
  EXPECT_EQ(device.request("POST", "/api/v1/device/deployments/x/events", "{}", device.signed_headers("{}")).status, 400);
  EXPECT_EQ(device.request("GET", "/api/v1/device/bundles/not-a-digest").status, 400);
  EXPECT_EQ(device_view(device.id())["report_counter"], 0);
}

TEST_F(DeviceApiTest, DeploymentFromOfferToCommit) {
  std::string token = enrollment_token();
  TestDevice device(server->url(), "gw-x1", "SN8");
  TestDevice bystander(server->url(), "gw-x1", "SN9");
  ASSERT_EQ(device.auth(token).status, 200);
  ASSERT_EQ(bystander.auth(token).status, 200);
  std::string bundle = upload_bundle();
  EXPECT_TRUE(device.poll().json()["update"].is_null());
  auto id = deploy(bundle, {device.id()});

  auto offer = device.poll().json()["update"];
  ASSERT_FALSE(offer.is_null());
  EXPECT_EQ(offer["deployment_id"], id);
  EXPECT_EQ(offer["bundle"]["file_sha256"], bundle);
  std::string path = "/api/v1/device/bundles/" + bundle;
  EXPECT_EQ(offer["bundle"]["url"], server->url() + path);
  auto download = device.request("GET", path);
  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(signing::sha256_hex(download.body), bundle);
  auto resumed = device.request("GET", path, "", {"Range: bytes=100-"});
  EXPECT_EQ(resumed.status, 206);
  EXPECT_EQ(resumed.body, download.body.substr(100));
  EXPECT_EQ(bystander.request("GET", path).status, 404);  // not assigned to it

  EXPECT_EQ(device.event(id, 1, "downloading").status, 200);
  EXPECT_EQ(device.event(id, 1, "downloading").json()["duplicate"], true);  // outbox resend
  EXPECT_EQ(device.event(id, 2, "installing").status, 200);
  EXPECT_EQ(device.event(id, 3, "downloading").status, 409);  // backwards
  EXPECT_EQ(device.event(id, 3, "rebooting").status, 200);
  EXPECT_EQ(device.event(id, 4, "verifying").status, 200);
  EXPECT_EQ(device.event(id, 5, "committed", "2.4.0").status, 200);
  EXPECT_EQ(device.event(id, 6, "failed").status, 409);  // final stays final
  auto events = admin->request("GET", "/api/v1/deployments/" + std::to_string(id) + "/devices/" + device.id() + "/events")->json()["events"];
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[4]["state"], "succeeded");
  // Each event keeps the device's own signed bytes: verifiable evidence.
  auto sig = common::from_base64(events[4]["signature"].get<std::string>());
  ASSERT_TRUE(sig);
  EXPECT_TRUE(device.key().public_key().verify(common::as_bytes(events[4]["body"].get<std::string>()), *sig));
  auto view = admin->request("GET", "/api/v1/deployments/" + std::to_string(id))->json();
  EXPECT_EQ(view["devices"][0]["state"], "succeeded");
  EXPECT_EQ(view["counts"]["succeeded"], 1);
  EXPECT_TRUE(device.poll().json()["update"].is_null());
  EXPECT_EQ(bystander.event(id, 1, "downloading").status, 404);
  // A forged event (signed by another key) is refused.
  auto stranger = testing::make_key();
  std::string body = R"({"seq": 7, "state": "failed", "time": "2026-11-24T19:00:00Z"})";
  EXPECT_EQ(device.request("POST", "/api/v1/device/deployments/" + std::to_string(id) + "/events", body,
                           device.signed_headers(body, &stranger)).status, 401);
  // In use: cannot be deleted.
  EXPECT_EQ(admin->request("DELETE", "/api/v1/bundles/" + bundle)->status, 409);
}

TEST_F(DeviceApiTest, RollbackRecordsTheRunningVersionAndFreesTheComponent) {
  TestDevice device(server->url(), "gw-x1", "SN10");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  std::string bundle = upload_bundle("2.4.0");
  auto id = deploy(bundle, {device.id()});
  deploy(upload_bundle("2.5.0"), {device.id()}, 409);  // one active deployment per component
  ASSERT_EQ(device.event(id, 1, "installing").status, 200);
  ASSERT_EQ(device.event(id, 2, "rolled_back", "2.3.0").status, 200);
  auto view = admin->request("GET", "/api/v1/deployments/" + std::to_string(id))->json();
  EXPECT_EQ(view["devices"][0]["state"], "rolled_back");
  EXPECT_EQ(view["devices"][0]["running_version"], "2.3.0");
  deploy(upload_bundle("2.6.0"), {device.id()}, 201);  // the component is free again
}

TEST_F(DeviceApiTest, DeploymentValidationNamesEveryBadDevice) {
  TestDevice other_type(server->url(), "gw-x9", "SN11");
  ASSERT_EQ(other_type.auth(enrollment_token(R"(["gw-x9"])")).status, 200);
  TestDevice pending(server->url(), "gw-x1", "SN12");
  ASSERT_EQ(pending.auth().status, 202);
  std::string bundle = upload_bundle();
  auto response = admin->request("POST", "/api/v1/deployments",
                                 common::Json{{"bundle", bundle}, {"devices", {other_type.id(), pending.id(), "nope", other_type.id()}}}.dump());
  ASSERT_EQ(response->status, 422);
  auto errors = response->json()["errors"];
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0]["path"], "/devices/0");
  EXPECT_NE(errors[0]["message"].get<std::string>().find("compatible"), std::string::npos);
  EXPECT_EQ(errors[1]["path"], "/devices/1");
  EXPECT_EQ(errors[3]["message"], "is listed twice");
  EXPECT_TRUE(admin->request("GET", "/api/v1/deployments")->json()["deployments"].empty());
}

TEST_F(DeviceApiTest, LabelsAndFilters) {
  std::string token = enrollment_token();
  TestDevice eu(server->url(), "gw-x1", "EU1");
  TestDevice us(server->url(), "gw-x1", "US1");
  ASSERT_EQ(eu.auth(token).status, 200);
  ASSERT_EQ(us.auth(token).status, 200);
  EXPECT_EQ(admin->request("PUT", "/api/v1/devices/" + eu.id() + "/labels", R"({"labels": {"region": "eu"}})")->status, 200);
  EXPECT_EQ(admin->request("PUT", "/api/v1/devices/" + us.id() + "/labels", R"({"labels": {"region": 5}})")->status, 400);
  auto filtered = admin->request("GET", "/api/v1/devices?label=region%3Deu")->json()["devices"];
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0]["id"], eu.id());
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?type=gw-x1")->json()["devices"].size(), 2u);
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?status=bogus")->status, 400);
}

// The overview's counts come from the database in one pass: by status, by
// type, tampered, and how recently accepted devices were heard from.
TEST_F(DeviceApiTest, FleetSummaryCountsWhatTheListShows) {
  std::string token = enrollment_token(R"(["gw-x1", "gw-x2"])");
  TestDevice heard(server->url(), "gw-x1", "S1");
  TestDevice tampered(server->url(), "gw-x2", "S2");
  TestDevice waiting(server->url(), "gw-x1", "S3");
  ASSERT_EQ(heard.auth(token).status, 200);
  ASSERT_EQ(heard.poll().status, 200);
  ASSERT_EQ(tampered.auth(token).status, 200);
  ASSERT_EQ(tampered.inventory(1, "2.3.0", 5, /*tamper_ok=*/false).status, 200);
  ASSERT_EQ(tampered.poll().status, 200);
  ASSERT_EQ(waiting.auth().status, 202);
  auto summary = admin->request("GET", "/api/v1/devices/summary");
  ASSERT_EQ(summary->status, 200) << summary->body;
  auto s = summary->json();
  EXPECT_EQ(s["total"], 3);
  EXPECT_EQ(s["by_status"]["accepted"], 2);
  EXPECT_EQ(s["by_status"]["pending"], 1);
  EXPECT_EQ(s["by_type"]["gw-x1"]["total"], 2);
  EXPECT_EQ(s["by_type"]["gw-x1"]["by_status"]["pending"], 1);
  EXPECT_EQ(s["by_type"]["gw-x2"]["total"], 1);
  EXPECT_EQ(s["tampered"], 1);
  // Accepted devices only; both polled just now.
  EXPECT_EQ(s["last_seen"]["5m"], 2) << s.dump();
  EXPECT_EQ(s["last_seen"]["never"], 0) << s.dump();
  auto flagged = admin->request("GET", "/api/v1/devices?tampered=true")->json()["devices"];
  ASSERT_EQ(flagged.size(), 1u);
  EXPECT_EQ(flagged[0]["id"], tampered.id());
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?tampered=false")->json()["devices"].size(), 2u);
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?tampered=yes")->status, 400);
}

// The documented protocol works with nothing but openssl and curl.
TEST_F(DeviceApiTest, EnrollWithCurlExample) {
  std::string script = std::string(FLOTILLA_SOURCE_DIR) + "/examples/device/enroll-with-curl.sh";
  std::string command = "cd '" + dir.path().string() + "' && '" + script + "' " + server->url() + " gw-x1 CURL1 " +
                        enrollment_token() + " > curl.out 2>&1";
  ASSERT_EQ(testing::run_shell(command), 0) << testing::read_text(dir / "curl.out");
  std::string out = testing::read_text(dir / "curl.out");
  EXPECT_NE(out.find("\"status\":\"accepted\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"inventory_required\":true"), std::string::npos) << out;
  auto devices = admin->request("GET", "/api/v1/devices?type=gw-x1")->json()["devices"];
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0]["identity"]["serial"], "CURL1");
  // Again, with a signed inventory report: the same key, now known.
  ASSERT_EQ(testing::run_shell("cd '" + dir.path().string() + "' && '" + script + "' " + server->url() +
                               " gw-x1 CURL1 '' 2.3.1 > curl2.out 2>&1"),
            0)
      << testing::read_text(dir / "curl2.out");
  out = testing::read_text(dir / "curl2.out");
  EXPECT_NE(out.find("\"accepted\":true"), std::string::npos) << out;
  auto view = device_view(devices[0]["id"]);
  EXPECT_EQ(view["inventory"]["components"]["rootfs"]["version"], "2.3.1") << view.dump();
}

TEST_F(DeviceApiTest, EnrollmentTokenExpiresAtItsTime) {
  auto soon = common::format_rfc3339(common::now_utc() + std::chrono::seconds(2));
  std::string token = enrollment_token(R"(["gw-x1"])", 5, soon);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  TestDevice late(server->url(), "gw-x1", "LATE");
  auto response = late.auth(token);
  EXPECT_EQ(response.status, 403);
  EXPECT_NE(response.body.find("expired"), std::string::npos) << response.body;
}

TEST_F(DeviceApiTest, DevicesFetchRootsByVersion) {
  TestDevice device(server->url(), "gw-x1", "SN13");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto root = device.request("GET", "/api/v1/device/trust/1.root.json");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.body, trust.root_json);
  EXPECT_EQ(device.request("GET", "/api/v1/device/trust/2.root.json").status, 404);
  EXPECT_EQ(device.poll().json()["root_version"], 1);
}

TEST_F(DeviceApiTest, EveryEnrollmentAndTransitionIsAudited) {
  TestDevice device(server->url(), "gw-x1", "SN14");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto id = deploy(upload_bundle(), {device.id()});
  device.poll();
  ASSERT_EQ(device.event(id, 1, "installing").status, 200);
  ASSERT_EQ(device.event(id, 2, "committed").status, 200);
  auto entries = admin->request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  std::vector<std::string> actions;
  for (const auto& e : entries) actions.push_back(e["action"]);
  for (const char* expected : {"enrollment_token.create", "device.enroll", "bundle.upload", "deployment.create",
                               "deployment.offered", "deployment.transition"}) {
    EXPECT_NE(std::find(actions.begin(), actions.end(), expected), actions.end()) << expected;
  }
  EXPECT_TRUE(admin->request("GET", "/api/v1/audit/verify")->json()["valid"].get<bool>());
}

}  // namespace
}  // namespace flotilla
