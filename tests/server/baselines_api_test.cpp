// Compliance baselines through the API: validated with every pointer,
// created, replaced, listed, shown, deleted, each audited.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

class BaselinesApiTest : public testing::RunningServer {};

TEST_F(BaselinesApiTest, CreateReplaceListShowDelete) {
  auto admin = admin_client();
  std::string q4 = testing::read_text(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/baselines/2026-Q4.json");
  auto created = admin.request("PUT", "/api/v1/baselines/2026-Q4", q4);
  ASSERT_EQ(created->status, 201) << created->body;
  EXPECT_EQ(created->json()["document"]["rules"].size(), 3u);
  auto replaced = admin.request("PUT", "/api/v1/baselines/2026-Q4", q4);
  EXPECT_EQ(replaced->status, 200);
  EXPECT_EQ(admin.request("GET", "/api/v1/baselines")->json()["baselines"].size(), 1u);
  EXPECT_EQ(admin.request("GET", "/api/v1/baselines/2026-Q4")->json()["name"], "2026-Q4");

  // Invalid documents: every problem with its pointer, nothing stored.
  auto bad = admin.request("PUT", "/api/v1/baselines/bad",
                           R"({"name": "bad", "rules": [{"device_types": [], "component": "rootfs"}], "typo": 1})");
  EXPECT_EQ(bad->status, 422);
  std::set<std::string> paths;
  auto body = bad->json();
  for (const auto& e : body["errors"]) paths.insert(e["path"].get<std::string>());
  EXPECT_TRUE(paths.contains("/typo")) << bad->body;
  EXPECT_GE(paths.size(), 2u) << bad->body;
  auto mismatch = admin.request("PUT", "/api/v1/baselines/other", q4);
  EXPECT_EQ(mismatch->status, 422);
  EXPECT_EQ(mismatch->json()["errors"][0]["path"], "/name");
  EXPECT_EQ(admin.request("GET", "/api/v1/baselines/bad")->status, 404);

  EXPECT_EQ(admin.request("DELETE", "/api/v1/baselines/2026-Q4")->status, 200);
  EXPECT_EQ(admin.request("DELETE", "/api/v1/baselines/2026-Q4")->status, 404);
  std::set<std::string> actions;
  auto entries = admin.request("GET", "/api/v1/audit?limit=100")->json()["entries"];
  for (const auto& e : entries) actions.insert(e["action"].get<std::string>());
  EXPECT_TRUE(actions.contains("baseline.put"));
  EXPECT_TRUE(actions.contains("baseline.delete"));
}

// Each device's status from its own signed inventory, against a baseline
// and against the default rule; JSON and CSV.
TEST_F(BaselinesApiTest, ComplianceStatusPerDevice) {
  auto admin = admin_client();
  std::string token = enrollment_token(R"(["gw-x1"])", 10);
  testing::TestDevice current(server->url(), "gw-x1", "C1"), old(server->url(), "gw-x1", "O1"),
      silent(server->url(), "gw-x1", "S1"), opened(server->url(), "gw-x1", "T1");
  for (auto* d : {&current, &old, &silent, &opened}) ASSERT_EQ(d->auth(token).status, 200);
  ASSERT_EQ(current.inventory(1, "2.4.0", 7).status, 200);
  ASSERT_EQ(old.inventory(1, "2.3.0", 6).status, 200);
  ASSERT_EQ(opened.inventory(1, "2.4.0", 7, /*tamper_ok=*/false).status, 200);
  for (auto* d : {&current, &old, &silent, &opened}) ASSERT_EQ(d->poll().status, 200);  // seen now
  ASSERT_EQ(admin.request("PUT", "/api/v1/baselines/q",
                          R"({"name": "q", "rules": [{"device_types": ["gw-x1"], "component": "rootfs",
                              "min_version": "2.4.0", "min_security_version": 7, "deadline": "2099-01-01T00:00:00Z"}]})")
                ->status,
            201);
  auto report = admin.request("GET", "/api/v1/compliance?baseline=q")->json();
  std::map<std::string, std::string> status_of;
  for (const auto& row : report["rows"]) status_of[row["device_id"]] = row["status"];
  EXPECT_EQ(status_of[current.id()], "compliant");
  EXPECT_EQ(status_of[old.id()], "outdated");
  EXPECT_EQ(status_of[silent.id()], "unknown");
  EXPECT_EQ(status_of[opened.id()], "tampered");
  EXPECT_EQ(report["summary"]["devices"], 4);
  EXPECT_EQ(report["summary"]["by_status"]["outdated"], 1);
  EXPECT_EQ(report["baseline"]["name"], "q");
  for (const auto& row : report["rows"]) {
    if (row["device_id"] == old.id()) {
      EXPECT_EQ(row["installed_version"], "2.3.0");
      EXPECT_EQ(row["required_version"], "2.4.0");
      EXPECT_EQ(row["report_counter"], 1);  // traceable to the device-signed report
      EXPECT_FALSE(row["report_digest"].is_null());
    }
  }
  // Filters and CSV.
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?baseline=q&status=outdated")->json()["rows"].size(), 1u);
  auto csv = admin.request("GET", "/api/v1/compliance?baseline=q&format=csv");
  EXPECT_EQ(csv->status, 200);
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\n'), 5);  // header + 4 devices
  EXPECT_TRUE(csv->body.starts_with("device_id,device_type,labels,component,"));
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?baseline=nope")->status, 404);
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?format=xml")->status, 400);
  // Without a baseline: the highest release uploaded for the type.
  upload_bundle("2.5.0");
  auto by_default = admin.request("GET", "/api/v1/compliance")->json();
  for (const auto& row : by_default["rows"]) {
    if (row["device_id"] == current.id()) {
      EXPECT_EQ(row["status"], "outdated");
      EXPECT_EQ(row["required_version"], "2.5.0");
    }
  }
}

}  // namespace
}  // namespace flotilla
