// Compliance baselines through the API: validated with every pointer,
// created, replaced, listed, shown, deleted, each audited.
#include <gtest/gtest.h>

#include <set>

#include "tests/support/server_fixture.hpp"

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

}  // namespace
}  // namespace flotilla
