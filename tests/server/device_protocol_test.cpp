// The device protocol's exact rules (docs/device-protocol.md), each as the
// server behaves on the wire: contact and last_seen, tokens, the poll body,
// counter and seq limits, event rules, signature refusals, low-S ECDSA, and
// the audit entries compliance rows rest on.
#include <gtest/gtest.h>

#include "common/encoding.hpp"
#include "server/store/store.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::TestDevice;

class DeviceProtocolTest : public testing::RunningServer {
 protected:
  std::unique_ptr<cli::ApiClient> admin;

  void SetUp() override {
    RunningServer::SetUp();
    admin = std::make_unique<cli::ApiClient>(admin_client());
  }

  common::Json device_view(const std::string& id) { return admin->request("GET", "/api/v1/devices/" + id)->json(); }

  std::vector<common::Json> audit_entries(const std::string& action) {
    std::vector<common::Json> found;
    auto audit = admin->request("GET", "/api/v1/audit?limit=1000")->json();
    for (const auto& e : audit["entries"]) {
      if (e["action"] == action) found.push_back(e);
    }
    return found;
  }

  std::int64_t deploy_to(const TestDevice& device) {
    auto response = admin->request("POST", "/api/v1/deployments",
                                   common::Json{{"bundle", upload_bundle()}, {"devices", {device.id()}}}.dump());
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json()["id"];
  }

  static cli::ApiResponse signed_event(TestDevice& device, std::int64_t deployment, const common::Json& body) {
    std::string text = body.dump();
    return device.request("POST", "/api/v1/device/deployments/" + std::to_string(deployment) + "/events", text,
                          device.signed_headers(text));
  }

  static cli::ApiResponse signed_inventory(TestDevice& device, std::int64_t counter) {
    std::string text = common::Json{{"counter", counter}, {"timestamp", "2026-11-24T19:00:00Z"},
                                    {"components", {{"rootfs", {{"version", "2.3.0"}, {"security_version", 1}}}}}}
                           .dump();
    return device.request("PUT", "/api/v1/device/inventory", text, device.signed_headers(text));
  }
};

// An auditor reads a null last_seen as "never heard from": authenticating
// is contact, not only polling.
TEST_F(DeviceProtocolTest, LastSeenIsSetByAuthenticatedContactNotOnlyByPolls) {
  TestDevice device(server->url(), "gw-x1", "SEEN1");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  ASSERT_EQ(device.inventory(1, "2.3.0", 1).status, 200);
  auto view = device_view(device.id());
  EXPECT_TRUE(view["last_seen"].is_string()) << view.dump();
  auto rows = admin->request("GET", "/api/v1/compliance")->json()["rows"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(rows[0]["status"], "stale") << rows[0].dump();
  auto summary = admin->request("GET", "/api/v1/devices/summary")->json();
  EXPECT_EQ(summary["last_seen"]["never"], 0) << summary.dump();
}

// A device whose answer was lost authenticates again; a second process of
// the same device does too. Earlier tokens keep working, up to a bound.
TEST_F(DeviceProtocolTest, AuthenticatingAgainLeavesEarlierTokensValidUpToEight) {
  TestDevice device(server->url(), "gw-x1", "TOKENS");
  std::vector<std::string> tokens;
  auto first = device.auth(enrollment_token());
  ASSERT_EQ(first.status, 200);
  tokens.push_back(first.json()["token"]);
  for (std::int64_t i = 1; i < server::kLiveDeviceTokens; ++i) tokens.push_back(device.auth().json()["token"]);
  for (const auto& token : tokens) {
    device.client().set_token(token);
    EXPECT_EQ(device.poll().status, 200);
  }
  auto ninth = device.auth().json()["token"].get<std::string>();
  device.client().set_token(tokens.front());
  auto refused = device.poll();
  EXPECT_EQ(refused.status, 401);  // the oldest of nine went
  EXPECT_NE(refused.body.find("authenticate again"), std::string::npos) << refused.body;
  device.client().set_token(tokens[1]);
  EXPECT_EQ(device.poll().status, 200);
  device.client().set_token(ninth);
  EXPECT_EQ(device.poll().status, 200);
}

TEST_F(DeviceProtocolTest, PollBodyIsDigestAndCounterOfTheLastAcceptedReport) {
  TestDevice device(server->url(), "gw-x1", "POLL");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto poll = [&](const std::string& body) { return device.request("POST", "/api/v1/device/poll", body); };
  EXPECT_TRUE(poll("").json()["inventory_required"].get<bool>());
  EXPECT_TRUE(poll("{}").json()["inventory_required"].get<bool>());
  auto report = device.inventory(7, "2.3.0", 1);
  ASSERT_EQ(report.status, 200);
  std::string digest = report.json()["digest"];
  EXPECT_TRUE(common::is_sha256_hex(digest)) << digest;
  auto required = [&](const common::Json& body) {
    auto answer = poll(body.dump());
    EXPECT_EQ(answer.status, 200) << answer.body;
    return answer.json()["inventory_required"].get<bool>();
  };
  EXPECT_FALSE(required({{"inventory_digest", digest}, {"counter", 7}}));
  EXPECT_FALSE(required({{"inventory_digest", digest}}));
  EXPECT_TRUE(required({{"inventory_digest", digest}, {"counter", 6}}));  // the device lost a report
  EXPECT_TRUE(required({{"inventory_digest", std::string(64, 'a')}, {"counter", 7}}));
  EXPECT_TRUE(required({{"inventory_digest", ""}}));  // none sent yet
  for (const auto& [body, pointer] : std::vector<std::pair<common::Json, std::string>>{
           {{{"inventory_digest", "0000"}}, "/inventory_digest"},
           {{{"inventory_digest", std::string(64, 'A')}}, "/inventory_digest"},
           {{{"counter", 0}}, "/counter"},
           {{{"counter", server::kMaxDeviceCounter + 1}}, "/counter"},
           {{{"digest", digest}}, "/digest"}}) {
    auto refused = poll(body.dump());
    EXPECT_EQ(refused.status, 400) << body.dump();
    EXPECT_EQ(refused.json()["errors"][0]["path"], pointer) << refused.body;
  }
}

TEST_F(DeviceProtocolTest, CountersAreBoundedAndARefusalSaysWhereToContinue) {
  TestDevice device(server->url(), "gw-x1", "COUNTER");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto too_big = signed_inventory(device, server::kMaxDeviceCounter + 1);
  EXPECT_EQ(too_big.status, 400);
  EXPECT_EQ(too_big.json()["errors"][0]["path"], "/counter");
  // A first counter past 2^32 would leave a device little room: refused,
  // with where to continue.
  auto far = signed_inventory(device, server::kMaxCounterStep + 1);
  EXPECT_EQ(far.status, 409);
  EXPECT_EQ(far.json()["last_counter"], 0) << far.body;
  ASSERT_EQ(signed_inventory(device, 5).status, 200);
  auto replay = signed_inventory(device, 5);
  EXPECT_EQ(replay.status, 409);
  EXPECT_EQ(replay.json()["last_counter"], 5) << replay.body;
  EXPECT_EQ(signed_inventory(device, 3).json()["last_counter"], 5);
  EXPECT_EQ(signed_inventory(device, 5 + server::kMaxCounterStep + 1).status, 409);
  EXPECT_EQ(signed_inventory(device, 5 + server::kMaxCounterStep).status, 200);
  EXPECT_EQ(device_view(device.id())["report_counter"], 5 + server::kMaxCounterStep);
}

TEST_F(DeviceProtocolTest, EventRulesSeqBodyAndFinalStates) {
  TestDevice device(server->url(), "gw-x1", "EVENTS");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto id = deploy_to(device);
  ASSERT_FALSE(device.poll().json()["update"].is_null());
  common::Json first = {{"seq", 1}, {"state", "downloading"}, {"progress", 10}, {"time", "2026-11-24T19:00:00Z"}};
  EXPECT_EQ(signed_event(device, id, first).json()["duplicate"], false);
  EXPECT_EQ(signed_event(device, id, first).json()["duplicate"], true);  // the same bytes: a resend
  auto changed = first;
  changed["progress"] = 20;
  auto conflict = signed_event(device, id, changed);
  EXPECT_EQ(conflict.status, 409);  // the same seq with other content is not a resend
  EXPECT_NE(conflict.body.find("different body"), std::string::npos) << conflict.body;
  common::Json progress = {{"seq", 2}, {"state", "downloading"}, {"progress", 60}, {"time", "2026-11-24T19:00:05Z"}};
  EXPECT_EQ(signed_event(device, id, progress).status, 200);  // the same state again: progress
  EXPECT_EQ(device.event(id, 2, "installing").status, 409);   // a seq not above the last
  EXPECT_EQ(device.event(id, 4, "verifying").status, 200);    // states may be skipped
  EXPECT_EQ(device.event(id, 5, "installing").status, 409);   // but never go back
  EXPECT_EQ(device.event(id, 6, "rolled_back", "2.3.0").status, 200);
  EXPECT_EQ(device.event(id, 6, "rolled_back", "2.3.0").json()["duplicate"], true);
  auto after_final = device.event(id, 7, "rolled_back", "2.3.0");
  EXPECT_EQ(after_final.status, 409);  // a final state takes no new events
  EXPECT_NE(after_final.body.find("already rolled_back"), std::string::npos) << after_final.body;
  common::Json huge = {{"seq", server::kMaxDeviceCounter + 1}, {"state", "failed"}, {"time", "2026-11-24T19:00:00Z"}};
  EXPECT_EQ(signed_event(device, id, huge).status, 400);
}

TEST_F(DeviceProtocolTest, SignatureRefusalsNameWhatIsMissingOrWrong) {
  TestDevice device(server->url(), "gw-x1", "HEADERS");
  std::string body = device.auth_body(enrollment_token(), common::format_rfc3339(common::now_utc()),
                                      "nonce-headers-0123456789");
  auto headers = device.signed_headers(body);  // key id, signature
  auto detail = [](const cli::ApiResponse& r) { return r.json()["detail"].get<std::string>(); };
  auto none = device.request("POST", "/api/v1/device/auth", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(detail(none).find("needs the header X-Flotilla-Key-Id"), std::string::npos) << none.body;
  auto no_signature = device.request("POST", "/api/v1/device/auth", body, {headers[0]});
  EXPECT_EQ(no_signature.status, 401);
  EXPECT_NE(detail(no_signature).find("needs the header X-Flotilla-Signature"), std::string::npos) << no_signature.body;
  auto wrong_id = device.request("POST", "/api/v1/device/auth", body,
                                 {"X-Flotilla-Key-Id: " + std::string(64, 'a'), headers[1]});
  EXPECT_NE(detail(wrong_id).find("key id of public_key"), std::string::npos) << wrong_id.body;
  auto accepted = device.request("POST", "/api/v1/device/auth", body, headers);
  ASSERT_EQ(accepted.status, 200);
  device.client().set_token(accepted.json()["token"].get<std::string>());

  std::string report = R"({"counter": 1, "timestamp": "2026-11-24T19:00:00Z", "components": {}})";
  auto unsigned_report = device.request("PUT", "/api/v1/device/inventory", report);
  EXPECT_EQ(unsigned_report.status, 401);
  EXPECT_NE(detail(unsigned_report).find("X-Flotilla-Key-Id"), std::string::npos);
  auto other_id = device.request("PUT", "/api/v1/device/inventory", report,
                                 {"X-Flotilla-Key-Id: " + std::string(64, 'b'), device.signed_headers(report)[1]});
  EXPECT_NE(detail(other_id).find("not this device's id"), std::string::npos) << other_id.body;
  // Signed requests need the bearer token as well.
  device.client().set_token(std::nullopt);
  EXPECT_EQ(device.request("PUT", "/api/v1/device/inventory", report, device.signed_headers(report)).status, 401);
}

// ECDSA malleability: from a captured signature anyone can make a second
// valid one (r, n - s). The server takes only the low-S form, which is the
// one the agent (and signing::PrivateKey) makes.
TEST_F(DeviceProtocolTest, EcdsaDeviceSignaturesMustHaveLowS) {
  TestDevice device(server->url(), "gw-x1", "P256", signing::Algorithm::kEcdsaP256);
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  for (std::int64_t counter = 1; counter <= 8; ++counter) {
    std::string report = common::Json{{"counter", counter}, {"timestamp", "2026-11-24T19:00:00Z"},
                                      {"components", common::Json::object()}}
                             .dump();
    auto signature = *device.key().sign(common::as_bytes(report));
    auto twin = testing::ecdsa_twin(signature);
    ASSERT_TRUE(device.key().public_key().verify(common::as_bytes(report), twin));
    auto high = device.request("PUT", "/api/v1/device/inventory", report,
                               {"X-Flotilla-Key-Id: " + device.id(), "X-Flotilla-Signature: " + common::to_base64(twin)});
    EXPECT_EQ(high.status, 401);
    EXPECT_NE(high.body.find("low S"), std::string::npos) << high.body;
    auto low = device.request("PUT", "/api/v1/device/inventory", report,
                              {"X-Flotilla-Key-Id: " + device.id(), "X-Flotilla-Signature: " + common::to_base64(signature)});
    EXPECT_EQ(low.status, 200) << low.body;
  }
}

// The chain holds what compliance rows rest on: each report that changes
// what a device runs, with the report's counter and digest.
TEST_F(DeviceProtocolTest, InventoryChangesAreInTheAuditChain) {
  upload_bundle("2.5.0");  // what the default rule requires
  TestDevice device(server->url(), "gw-x1", "CHAIN");
  ASSERT_EQ(device.auth(enrollment_token()).status, 200);
  auto first = device.inventory(1, "2.3.0", 1);
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(device.inventory(2, "2.3.0", 1).status, 200);  // unchanged: the stored report suffices
  auto upgraded = device.inventory(3, "2.4.0", 2);
  ASSERT_EQ(upgraded.status, 200);
  auto entries = audit_entries("device.inventory");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]["actor"], "device:" + device.id());
  EXPECT_EQ(entries[0]["details"]["report_digest"], first.json()["digest"]);
  EXPECT_EQ(entries[1]["details"]["report_counter"], 3);
  EXPECT_EQ(entries[1]["details"]["report_digest"], upgraded.json()["digest"]);
  EXPECT_EQ(entries[1]["details"]["components"]["rootfs"]["version"], "2.4.0");
  EXPECT_EQ(entries[1]["details"]["previous"]["rootfs"]["version"], "2.3.0");
  // The row's installed version is in the chain at or before the report's audit head.
  auto report = admin->request("GET", "/api/v1/compliance")->json();
  EXPECT_GE(report["audit_head"]["seq"].get<std::int64_t>(), entries[1]["seq"].get<std::int64_t>());
  EXPECT_EQ(report["rows"][0]["installed_version"], "2.4.0");
}

}  // namespace
}  // namespace flotilla
