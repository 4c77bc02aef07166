// The gateway side of the device API (docs/gateway.md) against the real
// server, on SQLite and PostgreSQL: who may speak for children, every
// field checked, replays and another gateway's children refused, and a
// child's offer travelling in its gateway's poll to its commit.
#include <gtest/gtest.h>

#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::TestDevice;

std::string child_device_id(const std::string& type, const std::string& id) {
  return signing::sha256_hex("flotilla-child:" + type + ":" + id);
}

class GatewayApiTest : public testing::RunningServer {
 protected:
  std::unique_ptr<cli::ApiClient> admin;

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }
  std::string gateway_token() {
    auto response = admin->request("POST", "/api/v1/enrollment-tokens",
                                   R"({"name": "gateways", "device_types": ["gw-x1"], "max_uses": 10,
                                       "expires_at": "2099-01-01T00:00:00Z", "gateway": true})");
    EXPECT_EQ(response->status, 201) << response->body;
    EXPECT_TRUE(response->json()["gateway"].get<bool>());
    return response->json()["token"];
  }
  static common::Json child_body(const std::string& id, std::int64_t counter, const std::string& version = "1.0.0") {
    return {{"child_id", id}, {"device_type", "mcu-a"}, {"identity", {{"serial", id}}}, {"counter", counter},
            {"timestamp", common::format_rfc3339(common::now_utc())},
            {"components", {{"firmware", {{"version", version}, {"security_version", 1}}}}}};
  }
  static cli::ApiResponse report(TestDevice& gateway, const common::Json& body) {
    auto text = body.dump();
    return gateway.request("PUT", "/api/v1/device/children/inventory", text, gateway.signed_headers(text));
  }
  static cli::ApiResponse child_event(TestDevice& gateway, const std::string& child, std::int64_t deployment, std::int64_t seq,
                                      const std::string& state, const std::string& running_version = "") {
    common::Json body = {{"seq", seq}, {"state", state}, {"time", common::format_rfc3339(common::now_utc())}};
    if (!running_version.empty()) body["running_version"] = running_version;
    auto text = body.dump();
    return gateway.request("POST", "/api/v1/device/children/" + child + "/deployments/" + std::to_string(deployment) + "/events",
                           text, gateway.signed_headers(text));
  }
  common::Json children_of(const std::string& gateway) {
    return admin->request("GET", "/api/v1/devices?parent=" + gateway)->json()["devices"];
  }
};

TEST_F(GatewayApiTest, AGatewayEnrollsItsChildrenAndReportsForThem) {
  TestDevice gateway(server->url(), "gw-x1", "GW1");
  ASSERT_EQ(gateway.auth(gateway_token()).status, 200);
  auto first = report(gateway, child_body("m-1", 1));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json()["device_id"], child_device_id("mcu-a", "m-1"));
  auto kids = children_of(gateway.id());
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0]["child_id"], "m-1");
  EXPECT_EQ(kids[0]["identity"]["serial"], "m-1");
  EXPECT_EQ(kids[0]["protocol"], "child");
  EXPECT_EQ(admin->request("GET", "/api/v1/devices/" + gateway.id())->json()["gateway"], true);
  // The child's own counter: a replay is refused with the last one accepted.
  auto replay = report(gateway, child_body("m-1", 1));
  EXPECT_EQ(replay.status, 409) << replay.body;
  EXPECT_EQ(replay.json()["last_counter"], 1);
  EXPECT_EQ(report(gateway, child_body("m-1", 2, "1.0.1")).status, 200);
  auto audit = admin->request("GET", "/api/v1/audit?limit=1000")->body;
  EXPECT_NE(audit.find("\"gateway\":\"" + gateway.id() + "\""), std::string::npos) << "the enrollment names the gateway";
  // The devices list filters by protocol and parent; a bad parent is named.
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?protocol=child")->json()["devices"].size(), 1u);
  EXPECT_EQ(admin->request("GET", "/api/v1/devices?parent=nope")->status, 400);
  auto metrics = admin->request("GET", "/metrics")->body;
  EXPECT_NE(metrics.find("flotilla_devices_by_protocol{protocol=\"child\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("flotilla_devices_by_protocol{protocol=\"flotilla\"} 1\n"), std::string::npos) << metrics;
}

TEST_F(GatewayApiTest, OnlyAGatewaySpeaksForChildrenAndOnlyWithItsSignature) {
  TestDevice plain(server->url(), "gw-x1", "PLAIN");
  ASSERT_EQ(plain.auth(enrollment_token()).status, 200);
  auto refused = report(plain, child_body("m-1", 1));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("--gateway"), std::string::npos) << refused.body;
  // An operator allows it: now it may.
  ASSERT_EQ(admin->request("PUT", "/api/v1/devices/" + plain.id() + "/gateway", R"({"allowed": true})")->status, 200);
  EXPECT_EQ(report(plain, child_body("m-1", 1)).status, 200);
  EXPECT_EQ(admin->request("PUT", "/api/v1/devices/" + plain.id() + "/gateway", R"({"allowed": "yes"})")->status, 400);
  EXPECT_EQ(admin->request("PUT", "/api/v1/devices/" + std::string(64, 'e') + "/gateway", R"({"allowed": true})")->status, 404);
  // Unsigned, or signed by another key: refused.
  auto text = child_body("m-2", 1).dump();
  EXPECT_EQ(plain.request("PUT", "/api/v1/device/children/inventory", text).status, 401);
  auto stranger = testing::make_key();
  EXPECT_EQ(plain.request("PUT", "/api/v1/device/children/inventory", text, plain.signed_headers(text, &stranger)).status, 401);
  EXPECT_EQ(children_of(plain.id()).size(), 1u);
}

TEST_F(GatewayApiTest, EveryFieldOfAChildReportIsChecked) {
  TestDevice gateway(server->url(), "gw-x1", "GW1");
  ASSERT_EQ(gateway.auth(gateway_token()).status, 200);
  auto with = [](common::Json body, const std::string& key, common::Json value) {
    if (value.is_null()) body.erase(key); else body[key] = std::move(value);
    return body;
  };
  const std::pair<common::Json, std::string> bad[] = {
      {with(child_body("m-1", 1), "child_id", "m 1"), "/child_id"},
      {with(child_body("m-1", 1), "child_id", nullptr), "/child_id"},
      {with(child_body("m-1", 1), "device_type", "../x"), "/device_type"},
      {with(child_body("m-1", 1), "identity", {{"serial", 7}}), "/identity/serial"},
      {with(child_body("m-1", 1), "components", {{"firmware", {{"version", "one"}, {"security_version", 1}}}}), "/components/firmware/version"},
      {with(child_body("m-1", 1), "counter", 0), "/counter"},
      {with(child_body("m-1", 1), "timestamp", "yesterday"), "/timestamp"},
      {with(child_body("m-1", 1), "parent", "someone"), "parent"},
  };
  for (const auto& [body, where] : bad) {
    auto response = report(gateway, body);
    EXPECT_EQ(response.status, 400) << body.dump();
    EXPECT_NE(response.body.find(where), std::string::npos) << where << ": " << response.body;
  }
  EXPECT_TRUE(children_of(gateway.id()).empty()) << "nothing stored";
}

TEST_F(GatewayApiTest, AnotherGatewaysChildIsNeitherTakenNorReportedFor) {
  TestDevice first(server->url(), "gw-x1", "GW1"), second(server->url(), "gw-x1", "GW2");
  auto token = gateway_token();
  ASSERT_EQ(first.auth(token).status, 200);
  ASSERT_EQ(second.auth(token).status, 200);
  ASSERT_EQ(report(first, child_body("m-1", 1)).status, 200);
  auto claimed = report(second, child_body("m-1", 5));
  EXPECT_EQ(claimed.status, 409) << claimed.body;
  EXPECT_NE(claimed.body.find("belongs to gateway " + first.id()), std::string::npos) << claimed.body;
  EXPECT_NE(claimed.body.find("flotilla devices move"), std::string::npos) << claimed.body;
  EXPECT_TRUE(children_of(second.id()).empty());
  EXPECT_NE(admin->request("GET", "/api/v1/audit?limit=1000")->body.find("device.child_claimed"), std::string::npos);
  // Events: another gateway's child and no child answer alike.
  auto child = child_device_id("mcu-a", "m-1");
  EXPECT_EQ(child_event(second, child, 1, 1, "installing").status, 404);
  EXPECT_EQ(child_event(second, std::string(64, 'c'), 1, 1, "installing").status, 404);
  // Moved by an operator, it is the second gateway's.
  auto moved = admin->request("POST", "/api/v1/devices/" + child + "/move", common::Json{{"gateway", second.id()}}.dump());
  ASSERT_EQ(moved->status, 200) << moved->body;
  EXPECT_EQ(report(second, child_body("m-1", 2)).status, 200);
  EXPECT_EQ(report(first, child_body("m-1", 3)).status, 409);
  // Only children move, and only to gateways.
  EXPECT_EQ(admin->request("POST", "/api/v1/devices/" + first.id() + "/move", common::Json{{"gateway", second.id()}}.dump())->status, 404);
  ASSERT_EQ(admin->request("PUT", "/api/v1/devices/" + first.id() + "/gateway", R"({"allowed": false})")->status, 200);
  EXPECT_EQ(admin->request("POST", "/api/v1/devices/" + child + "/move", common::Json{{"gateway", first.id()}}.dump())->status, 409);
}

TEST_F(GatewayApiTest, AChildsOfferTravelsInItsGatewaysPollToItsCommit) {
  TestDevice gateway(server->url(), "gw-x1", "GW1"), other(server->url(), "gw-x1", "OTHER");
  ASSERT_EQ(gateway.auth(gateway_token()).status, 200);
  ASSERT_EQ(other.auth(enrollment_token()).status, 200);
  ASSERT_EQ(report(gateway, child_body("m-1", 1)).status, 200);
  auto bundle = upload_bundle_of(testing::child_firmware_manifest("mcu-fw", "1.1.0", "mcu-a"));
  auto child = child_device_id("mcu-a", "m-1");
  auto created = admin->request("POST", "/api/v1/deployments", common::Json{{"bundle", bundle}, {"devices", {child}}}.dump());
  ASSERT_EQ(created->status, 201) << created->body;
  std::int64_t deployment = created->json()["id"];
  auto polled = gateway.poll();
  ASSERT_EQ(polled.status, 200) << polled.body;
  auto answer = polled.json();
  EXPECT_TRUE(answer["update"].is_null()) << "the gateway's own update is its own";
  ASSERT_EQ(answer["children"].size(), 1u) << polled.body;
  const auto& offer = answer["children"][0];
  EXPECT_EQ(offer["device_id"], child);
  EXPECT_EQ(offer["child_id"], "m-1");
  EXPECT_EQ(offer["device_type"], "mcu-a");
  EXPECT_EQ(offer["deployment_id"], deployment);
  // The gateway downloads its child's bundle; another device may not.
  std::string path = "/api/v1/device/bundles/" + bundle;
  EXPECT_EQ(gateway.request("GET", path).status, 200);
  EXPECT_EQ(other.request("GET", path).status, 404);
  EXPECT_FALSE(other.poll().json().contains("children")) << "only gateways hear of children";
  ASSERT_EQ(child_event(gateway, child, deployment, 1, "installing").status, 200);
  ASSERT_EQ(child_event(gateway, child, deployment, 2, "committed", "1.1.0").status, 200);
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "succeeded") << shown.dump();
  EXPECT_TRUE(gateway.poll().json()["children"].empty());
  // A bad transition is refused as for any device.
  EXPECT_EQ(child_event(gateway, child, deployment, 3, "installing").status, 409);
}

}  // namespace
}  // namespace flotilla
