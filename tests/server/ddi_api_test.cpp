// The DDI routes against the real server, as a hostile or a confused
// client would use them: whose token opens what, whose action is whose,
// what feedback moves, and what is refused (docs/ddi.md).
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <thread>

#include "common/encoding.hpp"
#include "server/ddi/ddi.hpp"
#include "signing/digest.hpp"
#include "tests/support/server_fixture.hpp"

namespace flotilla {
namespace {

using common::Json;
using testing::write_text;

std::string digest_hex(const EVP_MD* md, const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &length, md, nullptr);
  return common::to_hex(std::span<const std::uint8_t>(out, length));
}

class DdiApiTest : public testing::RunningServer {
 protected:
  std::unique_ptr<cli::ApiClient> admin;
  const std::string image = std::string(70000, 's') + "swu-image";

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }

  Json register_device(const std::string& controller_id, int expected = 201) {
    auto created = admin->request("POST", "/api/v1/devices/ddi",
                                  Json{{"controller_id", controller_id}, {"device_type", "sw-x1"}}.dump());
    EXPECT_EQ(created->status, expected) << created->body;
    return created->json();
  }

  // A DDI request with `token` (no Authorization header when empty).
  cli::ApiResponse ddi(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& body = "", std::vector<std::string> headers = {}) {
    if (!token.empty()) headers.push_back("Authorization: TargetToken " + token);
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    auto response = cli::ApiClient(server->url(), std::nullopt).request(method, path, body, headers);
    EXPECT_TRUE(response) << path;
    return *response;
  }

  std::string controller(const std::string& id) { return "/default/controller/v1/" + id; }

  // A bundle with one swu payload (its bytes are the vendor's business);
  // returns the file digest.
  std::string upload_swu_bundle(const std::string& payload_type = "swu") {
    write_text(dir / "app.swu", image);
    artifacts::Manifest m = testing::sample_manifest();
    m.name = "app-fw";
    m.kind = artifacts::Kind::kFirmware;
    m.component = "app";
    m.version = *common::Version::parse("2.0.0");
    m.compatible = {"sw-x1"};
    m.requires_.clear();
    artifacts::Payload p{.name = "app.swu", .type = payload_type == "swu" ? artifacts::PayloadType::kSwu : artifacts::PayloadType::kRawImage,
                         .slot = payload_type == "swu" ? "" : "rootfs"};
    auto out = dir / ("app-" + payload_type + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({m, {{p, dir / "app.swu"}}}, {&trust.release_key}, out));
    auto response = admin->upload("/api/v1/bundles", out);
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json()["file_sha256"];
  }

  std::int64_t deploy(const std::string& bundle, const std::string& controller_id) {
    auto response = admin->request("POST", "/api/v1/deployments",
                                   Json{{"bundle", bundle}, {"devices", {server::ddi::device_id_for(controller_id)}}}.dump());
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json().value("id", 0);
  }

  Json state(std::int64_t deployment) {
    return admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json()["devices"][0];
  }
};

TEST_F(DdiApiTest, RegisteringGivesATokenOnceAndRefusesDuplicatesAndBadFields) {
  auto created = register_device("dev-a");
  EXPECT_EQ(created["device_id"], server::ddi::device_id_for("dev-a"));
  EXPECT_EQ(created["controller_id"], "dev-a");
  EXPECT_TRUE(created["target_token"].get<std::string>().starts_with("ddi_"));
  register_device("dev-a", 409);
  for (const auto& bad : {Json{{"controller_id", "a/b"}, {"device_type", "sw-x1"}}, Json{{"controller_id", ""}, {"device_type", "sw-x1"}},
                          Json{{"controller_id", "ok"}, {"device_type", "bad type"}},
                          Json{{"controller_id", "ok"}, {"device_type", "sw-x1"}, {"token", "mine"}},
                          Json{{"controller_id", "ok"}, {"device_type", "sw-x1"}, {"labels", {{"k", 1}}}}}) {
    auto refused = admin->request("POST", "/api/v1/devices/ddi", bad.dump());
    EXPECT_EQ(refused->status, 400) << bad.dump() << " -> " << refused->body;
  }
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?type=sw-x1")->json()["devices"].size(), 1u) << "a refusal stored nothing";
  // Shown like any device, with its protocol; the token is never shown again.
  auto shown = admin->request("GET", "/api/v1/devices/" + created["device_id"].get<std::string>());
  EXPECT_EQ(shown->json()["protocol"], "ddi");
  EXPECT_EQ(shown->json()["auth"], "target-token");
  EXPECT_EQ(shown->body.find(created["target_token"].get<std::string>()), std::string::npos);
  // Registering is audited.
  auto audit = admin->request("GET", "/api/v1/audit")->body;
  EXPECT_NE(audit.find("device.create"), std::string::npos);
}

TEST_F(DdiApiTest, ATargetTokenOpensItsOwnControllerOnly) {
  std::string a = register_device("dev-a")["target_token"];
  std::string b = register_device("dev-b")["target_token"];
  EXPECT_EQ(ddi("GET", controller("dev-a"), a).status, 200);
  EXPECT_EQ(ddi("GET", controller("dev-a"), "", "", {"Authorization: targettoken " + a}).status, 200) << "the scheme is case-insensitive";
  auto missing = ddi("GET", controller("dev-a"), "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(ddi("GET", controller("dev-a"), "", "", {"Authorization: Bearer " + a}).status, 401);
  EXPECT_EQ(ddi("GET", controller("dev-a"), "ddi_wrong").status, 401);
  EXPECT_EQ(ddi("GET", controller("dev-a"), b).status, 401) << "another controller's token";
  EXPECT_EQ(ddi("GET", controller("dev-c"), a).status, 401) << "an unregistered controller";
  EXPECT_EQ(ddi("GET", "/other/controller/v1/dev-a", a).status, 404) << "another tenant";
  EXPECT_EQ(ddi("GET", controller("a%2Fb"), a).status, 404) << "no route has a controller id with a slash";
  EXPECT_EQ(ddi("GET", controller("a:b%20c"), a).status, 400);
  // The target token does not open the native device routes.
  auto native = cli::ApiClient(server->url(), a).request("POST", "/api/v1/device/poll", "{}");
  EXPECT_EQ(native->status, 401) << native->body;
  // Decommissioned: the token is gone.
  auto id = server::ddi::device_id_for("dev-a");
  ASSERT_EQ(admin->request("POST", "/api/v1/devices/" + id + "/decommission")->status, 200);
  EXPECT_EQ(ddi("GET", controller("dev-a"), a).status, 401);
  EXPECT_EQ(ddi("GET", controller("dev-b"), b).status, 200);
}

TEST_F(DdiApiTest, AnActionIsServedToItsDeviceOnlyAndFeedbackMovesIt) {
  std::string a = register_device("dev-a")["target_token"];
  std::string b = register_device("dev-b")["target_token"];
  auto deployment = deploy(upload_swu_bundle(), "dev-a");
  std::string action = std::to_string(deployment);
  auto base = ddi("GET", controller("dev-a"), a).json();
  EXPECT_EQ(base["_links"]["deploymentBase"]["href"], server->url() + controller("dev-a") + "/deploymentBase/" + action) << base.dump();
  EXPECT_TRUE(base["_links"].contains("configData")) << "no configData yet: asked for";
  EXPECT_FALSE(ddi("GET", controller("dev-b"), b).json()["_links"].contains("deploymentBase"));
  EXPECT_EQ(state(deployment)["state"], "offered");

  // Another device's action, and made-up ones, look like nothing.
  for (const std::string& path : {controller("dev-b") + "/deploymentBase/" + action, controller("dev-a") + "/deploymentBase/999",
                                  controller("dev-a") + "/deploymentBase/x"}) {
    EXPECT_EQ(ddi("GET", path, path.find("dev-b") != std::string::npos ? b : a).status, 404) << path;
  }
  EXPECT_EQ(ddi("GET", controller("dev-b") + "/softwaremodules/" + action + "/artifacts/app.swu", b).status, 404);

  auto fetched = ddi("GET", controller("dev-a") + "/deploymentBase/" + action, a);
  ASSERT_EQ(fetched.status, 200) << fetched.body;
  auto artifact = fetched.json()["deployment"]["chunks"][0]["artifacts"][0];
  EXPECT_EQ(artifact["size"], image.size());
  EXPECT_EQ(artifact["hashes"]["sha256"], signing::sha256_hex(image));
  EXPECT_EQ(artifact["hashes"]["sha1"], digest_hex(EVP_sha1(), image));
  EXPECT_EQ(artifact["hashes"]["md5"], digest_hex(EVP_md5(), image));
  EXPECT_EQ(state(deployment)["state"], "downloading");

  // The artifact: whole, a range, HEAD; only names the manifest lists.
  std::string path = controller("dev-a") + "/softwaremodules/" + action + "/artifacts/";
  auto whole = ddi("GET", path + "app.swu", a);
  EXPECT_EQ(whole.status, 200) << whole.body.substr(0, 300);
  EXPECT_TRUE(whole.body == image) << "the artifact's bytes differ: " << whole.body.size() << " bytes";
  auto part = ddi("GET", path + "app.swu", a, "", {"Range: bytes=70000-"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, "swu-image");
  EXPECT_EQ(ddi("HEAD", path + "app.swu", a).status, 200);
  EXPECT_EQ(ddi("GET", path + "other.swu", a).status, 404);
  EXPECT_EQ(ddi("GET", path + "..%2F..%2Fflotilla.db", a).status, 404);
  EXPECT_EQ(ddi("GET", path + "app.swu", a, "", {"Range: bytes=90000-"}).status, 416);

  std::string feedback = controller("dev-a") + "/deploymentBase/" + action + "/feedback";
  for (std::string bad : {"{", R"({"status": {"execution": "exploded"}})", R"({"id": 999, "status": {"execution": "closed"}})",
                                 R"({"status": {"execution": "closed"}, "extra": 1})"}) {
    auto refused = ddi("POST", feedback, a, bad);
    EXPECT_EQ(refused.status, 400) << bad << " -> " << refused.body;
  }
  EXPECT_EQ(ddi("POST", controller("dev-b") + "/deploymentBase/" + action + "/feedback", b,
                R"({"status": {"execution": "closed", "result": {"finished": "success"}}})").status, 404);
  EXPECT_EQ(state(deployment)["state"], "downloading") << "refused feedback moved nothing";

  auto installed = ddi("POST", feedback, a,
                       R"({"id": ")" + action + R"(", "status": {"execution": "proceeding", "result": {"progress": {"cnt": 1, "of": 1}, "finished": "none"}, "details": ["All Chunks Installed."]}})");
  EXPECT_EQ(installed.status, 200) << installed.body;
  EXPECT_EQ(state(deployment)["state"], "installing");
  auto done = ddi("POST", feedback, a, R"({"status": {"execution": "closed", "result": {"finished": "success"}, "details": ["Update Installed."]}})");
  EXPECT_EQ(done.status, 200) << done.body;
  auto final = state(deployment);
  EXPECT_EQ(final["state"], "succeeded");
  EXPECT_EQ(final["running_version"], "2.0.0");
  // Closed: no longer offered, its feedback route is gone, installedBase shows it.
  EXPECT_FALSE(ddi("GET", controller("dev-a"), a).json()["_links"].contains("deploymentBase"));
  EXPECT_EQ(ddi("POST", feedback, a, R"({"status": {"execution": "closed", "result": {"finished": "failure"}}})").status, 404);
  auto installed_base = ddi("GET", controller("dev-a") + "/installedBase/" + action, a);
  EXPECT_EQ(installed_base.status, 200) << installed_base.body;
  EXPECT_EQ(installed_base.json()["deployment"]["chunks"][0]["version"], "2.0.0");
  EXPECT_EQ(ddi("GET", controller("dev-b") + "/installedBase/" + action, b).status, 404);
  // The installed version, self-reported, in the device's inventory.
  auto device = admin->request("GET", "/api/v1/devices/" + server::ddi::device_id_for("dev-a"))->json();
  EXPECT_EQ(device["inventory"]["components"]["app"]["version"], "2.0.0") << device.dump();
  EXPECT_EQ(device["inventory"]["evidence"], "self-reported (ddi)");
}

TEST_F(DdiApiTest, AFailureIsRecordedWithTheClientsDetails) {
  std::string a = register_device("dev-a")["target_token"];
  auto deployment = deploy(upload_swu_bundle(), "dev-a");
  std::string action = std::to_string(deployment);
  ASSERT_EQ(ddi("GET", controller("dev-a") + "/deploymentBase/" + action, a).status, 200);
  // Clients differ in what they add: a 100-continue handshake, a header
  // sent twice. Neither is a reason to refuse.
  std::string progress = R"({"status": {"execution": "proceeding", "details": [")" + std::string(3000, 'p') + R"("]}})";
  auto continued = ddi("POST", controller("dev-a") + "/deploymentBase/" + action + "/feedback", a, progress,
                       {"Expect: 100-continue", "Accept: application/hal+json", "Accept: application/json"});
  EXPECT_EQ(continued.status, 200) << continued.body;
  // Oversized: refused before it is read whole.
  auto oversized = ddi("POST", controller("dev-a") + "/deploymentBase/" + action + "/feedback", a,
                       R"({"status": {"execution": "proceeding", "details": [")" + std::string(70000, 'o') + R"("]}})");
  EXPECT_EQ(oversized.status, 413) << oversized.body.substr(0, 300);
  auto failed = ddi("POST", controller("dev-a") + "/deploymentBase/" + action + "/feedback", a,
                    R"({"id": )" + action + R"(, "status": {"execution": "closed", "result": {"finished": "failure"}, "details": ["Image invalid or corrupted.", "hash mismatch"]}})");
  EXPECT_EQ(failed.status, 200) << failed.body;
  auto final = state(deployment);
  EXPECT_EQ(final["state"], "failed");
  EXPECT_EQ(final["message"], "Image invalid or corrupted.; hash mismatch");
}

TEST_F(DdiApiTest, ABundleWithoutAnSwuImageFailsOnADdiDeviceWithTheReason) {
  std::string a = register_device("dev-a")["target_token"];
  auto deployment = deploy(upload_swu_bundle("raw-image"), "dev-a");
  auto base = ddi("GET", controller("dev-a"), a).json();
  EXPECT_FALSE(base.contains("_links") && base["_links"].contains("deploymentBase")) << base.dump();
  auto final = state(deployment);
  EXPECT_EQ(final["state"], "failed");
  EXPECT_NE(final["message"].get<std::string>().find("no SWUpdate image"), std::string::npos) << final.dump();
}

TEST_F(DdiApiTest, AnAbortedRolloutAsksForACancelAndTheAcknowledgementEndsTheAttempt) {
  std::string a = register_device("dev-a")["target_token"];
  upload_swu_bundle();
  auto created = admin->request("POST", "/api/v1/rollouts",
                                R"({"name": "r", "bundle": {"name": "app-fw", "version": "2.0.0"}, "target": {"device_types": ["sw-x1"]}, "waves": [{"name": "all", "size": "100%"}]})");
  ASSERT_EQ(created->status, 201) << created->body;
  auto rollout = created->json()["id"].get<std::int64_t>();
  auto deployment = created->json()["deployment_id"].get<std::int64_t>();
  std::string action = std::to_string(deployment);
  Json base;
  for (int i = 0; i < 50 && !base.contains("_links"); ++i) {
    base = ddi("GET", controller("dev-a"), a).json();
    if (!base["_links"].contains("deploymentBase")) base = Json::object(), std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(base["_links"].contains("deploymentBase")) << base.dump();
  ASSERT_EQ(ddi("GET", controller("dev-a") + "/deploymentBase/" + action, a).status, 200);
  EXPECT_EQ(ddi("GET", controller("dev-a") + "/cancelAction/" + action, a).status, 404) << "nothing is canceled yet";

  ASSERT_EQ(admin->request("POST", "/api/v1/rollouts/" + std::to_string(rollout) + "/abort", "{}")->status, 200);
  base = ddi("GET", controller("dev-a"), a).json();
  EXPECT_EQ(base["_links"]["cancelAction"]["href"], server->url() + controller("dev-a") + "/cancelAction/" + action) << base.dump();
  EXPECT_FALSE(base["_links"].contains("deploymentBase"));
  auto cancel = ddi("GET", controller("dev-a") + "/cancelAction/" + action, a);
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_EQ(cancel.json()["cancelAction"]["stopId"], action);
  std::string feedback = controller("dev-a") + "/cancelAction/" + action + "/feedback";
  EXPECT_EQ(ddi("POST", feedback, a, R"({"status": {"execution": "sometimes"}})").status, 400);
  // Rejected: the device goes on, nothing is recorded.
  EXPECT_EQ(ddi("POST", feedback, a, R"({"status": {"execution": "rejected"}})").status, 200);
  EXPECT_EQ(state(deployment)["state"], "downloading");
  // SWUpdate's acknowledgement.
  auto acknowledged = ddi("POST", feedback, a,
                          R"({"id": )" + action + R"(, "time": "20261207T170000", "status": {"result": {"finished": "success"}, "execution": "closed", "details": ["cancellation acknowledged."]}})");
  EXPECT_EQ(acknowledged.status, 200) << acknowledged.body;
  auto final = state(deployment);
  EXPECT_EQ(final["state"], "failed");
  EXPECT_NE(final["message"].get<std::string>().find("canceled"), std::string::npos) << final.dump();
  EXPECT_FALSE(ddi("GET", controller("dev-a"), a).json()["_links"].contains("cancelAction"));
}

TEST_F(DdiApiTest, AGatewayTokenRegistersUnknownControllersForAnOperatorToAccept) {
  auto gateway = [&](const std::string& secret, const std::string& id) {
    return ddi("GET", controller(id), "", "", {"Authorization: GatewayToken " + secret});
  };
  EXPECT_EQ(gateway("ddigw_none", "dev-g").status, 401) << "no gateway token yet";
  auto created = admin->request("POST", "/api/v1/ddi/gateway-token", R"({"device_type": "sw-x1"})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::string secret = created->json()["gateway_token"];
  EXPECT_EQ(admin->request("POST", "/api/v1/ddi/gateway-token", R"({"device_type": "bad type"})")->status, 400);
  EXPECT_EQ(gateway("ddigw_wrong", "dev-g").status, 401);

  // An unknown controller: registered, pending, served nothing.
  auto first = gateway(secret, "dev-g");
  EXPECT_EQ(first.status, 403) << first.body;
  auto id = server::ddi::device_id_for("dev-g");
  auto device = admin->request("GET", "/api/v1/devices/" + id)->json();
  EXPECT_EQ(device["status"], "pending") << device.dump();
  EXPECT_EQ(device["protocol"], "ddi");
  EXPECT_EQ(device["device_type"], "sw-x1");
  EXPECT_EQ(device["identity"]["controller_id"], "dev-g");
  EXPECT_EQ(gateway(secret, "dev-g").status, 403) << "still pending, registered once";
  // Accepted, it is served through the gateway token.
  ASSERT_EQ(admin->request("POST", "/api/v1/devices/" + id + "/accept")->status, 200);
  auto deployment = deploy(upload_swu_bundle(), "dev-g");
  auto base = gateway(secret, "dev-g");
  ASSERT_EQ(base.status, 200) << base.body;
  EXPECT_TRUE(base.json()["_links"].contains("deploymentBase")) << base.body;
  EXPECT_EQ(ddi("GET", controller("dev-g") + "/deploymentBase/" + std::to_string(deployment), "", "",
                {"Authorization: GatewayToken " + secret}).status, 200);
  // Revoked: nothing opens, the device stays.
  ASSERT_EQ(admin->request("DELETE", "/api/v1/ddi/gateway-token")->status, 200);
  EXPECT_EQ(gateway(secret, "dev-g").status, 401);
  EXPECT_EQ(admin->request("DELETE", "/api/v1/ddi/gateway-token")->status, 404);
  EXPECT_EQ(admin->request("GET", "/api/v1/devices/" + id)->json()["status"], "accepted");
  auto audit = admin->request("GET", "/api/v1/audit")->body;
  EXPECT_NE(audit.find("ddi.gateway_token.create"), std::string::npos);
  EXPECT_NE(audit.find("ddi.gateway_token.revoke"), std::string::npos);
  EXPECT_EQ(audit.find(secret), std::string::npos);
}

TEST_F(DdiApiTest, ConfigDataIsKeptAsTheDevicesAttributes) {
  std::string a = register_device("dev-a")["target_token"];
  std::string path = controller("dev-a") + "/configData";
  EXPECT_EQ(ddi("PUT", path, a, R"({"data": {"hw": "rev2", "serial": "S-1"}, "status": {"execution": "closed", "result": {"finished": "success"}}})").status, 200);
  EXPECT_EQ(ddi("PUT", path, a, R"({"mode": "merge", "data": {"hw": "rev3"}})").status, 200);
  EXPECT_EQ(ddi("PUT", path, a, R"({"data": {"hw": 3}})").status, 400);
  EXPECT_EQ(ddi("PUT", path, a, "not json").status, 400);
  auto device = admin->request("GET", "/api/v1/devices/" + server::ddi::device_id_for("dev-a"))->json();
  EXPECT_EQ(device["attributes"], Json::parse(R"({"hw": "rev3", "serial": "S-1"})")) << device.dump();
  // Once known, the poll no longer asks for them.
  EXPECT_FALSE(ddi("GET", controller("dev-a"), a).json().contains("_links"));
}

// Behind a front that asks for client certificates, a DDI device's
// certificate must name its controller id (the token alone is not enough).
TEST(DdiClientCertificates, TheCertificatesCommonNameMustBeTheControllerId) {
  testing::TempDir dir;
  auto file = [&](const std::string& name) { return testing::shell_quoted((dir / name).string()); };
  std::string make =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=fleet-ca -keyout " +
      file("ca.key") + " -out " + file("ca.crt") +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " + file("tls.key") + " -out " + file("tls.crt");
  for (const char* device : {"dev-a", "dev-b"}) {
    std::string d = device;
    make += " && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + d + "/O=Example -keyout " +
            file(d + ".key") + " -out " + file(d + ".csr") + " && openssl x509 -req -days 2 -in " + file(d + ".csr") + " -CA " +
            file("ca.crt") + " -CAkey " + file("ca.key") + " -CAcreateserial -out " + file(d + ".crt");
  }
  ASSERT_EQ(testing::run_shell("(" + make + ") > /dev/null 2>&1"), 0);
  testing::ServerProcess server(FLOTILLA_SERVER, dir / "data");
  server.start({"--tls-cert", (dir / "tls.crt").string(), "--tls-key", (dir / "tls.key").string(), "--tls-client-ca",
                (dir / "ca.crt").string()});
  cli::ApiClient admin(server.url(), server.admin_token());
  admin.set_ca_file((dir / "tls.crt").string());
  auto created = admin.request("POST", "/api/v1/devices/ddi", R"({"controller_id": "dev-a", "device_type": "sw-x1"})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::string token = created->json()["target_token"];
  auto status_with = [&](const std::string& options) {
    auto out = testing::capture_shell("curl -s -o /dev/null -w '%{http_code}' --cacert " + file("tls.crt") + " " + options +
                                      " -H 'Authorization: TargetToken " + token + "' " + server.url() + "/default/controller/v1/dev-a");
    return out.output;
  };
  EXPECT_EQ(status_with("--cert " + file("dev-a.crt") + " --key " + file("dev-a.key")), "200");
  EXPECT_EQ(status_with("--cert " + file("dev-b.crt") + " --key " + file("dev-b.key")), "401") << "another device's certificate";
  EXPECT_EQ(status_with(""), "401") << "no certificate";
  // Headers that claim a verified certificate are the front's to set.
  EXPECT_EQ(status_with("-H 'X-Flotilla-Client-Verify: SUCCESS' -H 'X-Flotilla-Client-Subject: CN=dev-a'"), "401");
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace flotilla
