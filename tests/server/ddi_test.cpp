// The DDI shapes (server/ddi/ddi.hpp): what clients read, and strict but
// lenient-where-clients-differ parsing of what they send.
#include <gtest/gtest.h>

#include "server/ddi/ddi.hpp"

namespace flotilla::server::ddi {
namespace {

using common::Json;

TEST(DdiShapes, ControllerIdsAreKeptToOnePlainPathSegment) {
  for (const char* good : {"dev-1", "A.b_c:d@e", "x"}) EXPECT_TRUE(is_controller_id(good)) << good;
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "a b", "a%2F", std::string(129, 'a'), "é"}) {
    EXPECT_FALSE(is_controller_id(bad)) << bad;
  }
  EXPECT_TRUE(is_controller_id(std::string(128, 'a')));
  // Stable, 64 hex digits, and distinct per controller.
  EXPECT_EQ(device_id_for("dev-1"), device_id_for("dev-1"));
  EXPECT_NE(device_id_for("dev-1"), device_id_for("dev-2"));
  EXPECT_EQ(device_id_for("dev-1").size(), 64u);
}

TEST(DdiShapes, TheCommonNameIsReadFromAnRfc2253Subject) {
  EXPECT_EQ(common_name("CN=dev-a,O=Example"), "dev-a");
  EXPECT_EQ(common_name("O=Example,CN=dev-a"), "dev-a");
  EXPECT_EQ(common_name(R"(CN=dev\,a,O=Example)"), "dev,a");
  EXPECT_EQ(common_name("CN=dev-a+serialNumber=1"), "dev-a");
  EXPECT_EQ(common_name("O=Example"), std::nullopt);
  EXPECT_EQ(common_name(""), std::nullopt);
  EXPECT_EQ(common_name("OCN=dev-a"), std::nullopt);
}

TEST(DdiShapes, TheBasePollLinksTheOpenActionAndMissingConfigDataOnly) {
  EXPECT_EQ(polling_sleep(60), "00:01:00");
  EXPECT_EQ(polling_sleep(3725), "01:02:05");
  EXPECT_EQ(polling_sleep(0), "00:00:01");
  auto idle = base_poll("http://s/default/controller/v1/d", 300, std::nullopt, false);
  EXPECT_EQ(idle, Json::parse(R"({"config": {"polling": {"sleep": "00:05:00"}}})"));
  auto busy = base_poll("http://s/default/controller/v1/d", 5, 42, true);
  EXPECT_EQ(busy["_links"]["deploymentBase"]["href"], "http://s/default/controller/v1/d/deploymentBase/42");
  EXPECT_EQ(busy["_links"]["configData"]["href"], "http://s/default/controller/v1/d/configData");
  EXPECT_FALSE(busy["_links"].contains("cancelAction"));
}

TEST(DdiShapes, TheDeploymentNamesEachArtifactWithItsHashesAndLinks) {
  Action action{.id = 7, .part = "firmware", .name = "app-fw", .version = "2.0.0",
                .artifacts = {{"app.swu", 1234, "s1", "m5", "s256"}}, .controller_url = "https://s/t/controller/v1/d"};
  auto json = deployment_base(action);
  EXPECT_EQ(json["id"], "7");
  EXPECT_EQ(json["deployment"]["update"], "forced");
  EXPECT_EQ(json["deployment"]["download"], "forced");
  EXPECT_FALSE(json["deployment"].contains("maintenanceWindow"));
  const auto& chunk = json["deployment"]["chunks"][0];
  EXPECT_EQ(chunk["part"], "firmware");
  EXPECT_EQ(chunk["version"], "2.0.0");
  EXPECT_EQ(chunk["name"], "app-fw");
  const auto& artifact = chunk["artifacts"][0];
  EXPECT_EQ(artifact["filename"], "app.swu");
  EXPECT_EQ(artifact["size"], 1234);
  EXPECT_EQ(artifact["hashes"], Json::parse(R"({"sha1": "s1", "md5": "m5", "sha256": "s256"})"));
  EXPECT_EQ(artifact["_links"]["download"]["href"], "https://s/t/controller/v1/d/softwaremodules/7/artifacts/app.swu");
  EXPECT_EQ(artifact["_links"]["download-http"]["href"], artifact["_links"]["download"]["href"]);
  // Windows: shown, never as "skip" (a client would report a skip as done).
  action.in_window = false;
  json = deployment_base(action);
  EXPECT_EQ(json["deployment"]["maintenanceWindow"], "unavailable");
  EXPECT_EQ(json["deployment"]["update"], "forced");
  action.in_window = true;
  EXPECT_EQ(deployment_base(action)["deployment"]["maintenanceWindow"], "available");
}

TEST(DdiFeedback, WhatSwupdateSendsIsReadAsItMeans) {
  // SWUpdate's log lines may hold tabs: invalid JSON it still means.
  auto installed = parse_feedback(
      "{ \"id\": 1, \"time\": \"20261207T164610\", \"status\": { \"result\": { \"progress\": { \"cnt\" : 1, \"of\" : 1 }, "
      "\"finished\": \"none\" }, \"execution\": \"proceeding\", \"details\" : [ \"Installed\tChunk.\" ] } }");
  ASSERT_TRUE(installed) << installed.error().describe();
  EXPECT_EQ(installed->outcome, Outcome::kInstalled);
  EXPECT_EQ(installed->percent(), 100);
  EXPECT_EQ(installed->details, "Installed Chunk.");
  EXPECT_EQ(installed->id, 1);
  auto started = parse_feedback(R"({"id": "1", "status": {"execution": "proceeding", "result": {"progress": {"cnt": 0, "of": 1}, "finished": "none"}}})");
  ASSERT_TRUE(started);
  EXPECT_EQ(started->outcome, Outcome::kProgress);
  EXPECT_EQ(started->id, 1) << "an id as a string of digits, as hawkBit writes it";
  auto success = parse_feedback(R"({"status": {"execution": "closed", "result": {"finished": "success"}, "details": ["Update Installed."]}})");
  ASSERT_TRUE(success);
  EXPECT_EQ(success->outcome, Outcome::kSuccess);
  EXPECT_FALSE(success->id);
  for (const char* failed : {R"({"status": {"execution": "closed", "result": {"finished": "failure"}}})",
                             R"({"status": {"execution": "closed"}})", R"({"status": {"execution": "rejected"}})"}) {
    auto parsed = parse_feedback(failed);
    ASSERT_TRUE(parsed) << failed;
    EXPECT_EQ(parsed->outcome, Outcome::kFailure) << failed;
  }
  EXPECT_EQ(parse_feedback(R"({"status": {"execution": "canceled"}})")->outcome, Outcome::kCanceled);
  EXPECT_EQ(parse_feedback(R"({"status": {"execution": "downloaded"}})")->outcome, Outcome::kInstalled);
}

TEST(DdiFeedback, AnythingElseIsRefusedNamingTheField) {
  const std::pair<std::string, std::string> refused[] = {
      {"not json", "JSON"},
      {"[]", "object"},
      {R"({"status": {"execution": "exploded"}})", "/status/execution"},
      {R"({"status": {}})", "execution"},
      {R"({"id": 1})", "status"},
      {R"({"id": -3, "status": {"execution": "closed"}})", "/id"},
      {R"({"id": "12a", "status": {"execution": "closed"}})", "/id"},
      {R"({"status": {"execution": "closed", "result": {"finished": "maybe"}}})", "/status/result/finished"},
      {R"({"status": {"execution": "closed", "colour": 1}})", "colour"},
      {R"({"status": {"execution": "closed", "details": [1]}})", "/status/details/0"},
      {R"({"status": {"execution": "closed", "details": ")" + std::string(10, 'x') + R"("}})", "details"},
      {R"({"status": {"execution": "proceeding", "result": {"progress": {"cnt": -1}}}})", "cnt"},
      {R"({"status": {"execution": "closed"}, "status": {"execution": "closed"}})", "status"},
  };
  for (const auto& [body, names] : refused) {
    auto parsed = parse_feedback(body);
    ASSERT_FALSE(parsed) << body;
    EXPECT_NE(parsed.error().describe().find(names), std::string::npos) << body << " -> " << parsed.error().describe();
  }
  // Too many detail lines, and details kept to the cap.
  Json many = {{"status", {{"execution", "proceeding"}, {"details", Json::array()}}}};
  for (int i = 0; i < 65; ++i) many["status"]["details"].push_back("line");
  EXPECT_FALSE(parse_feedback(many.dump()));
  Json long_lines = {{"status", {{"execution", "proceeding"}, {"details", Json::array()}}}};
  for (int i = 0; i < 10; ++i) long_lines["status"]["details"].push_back(std::string(1000, 'y'));
  auto capped = parse_feedback(long_lines.dump());
  ASSERT_TRUE(capped);
  EXPECT_LE(capped->details.size(), kMaxDetailBytes);
}

TEST(DdiConfigData, AttributesAreMergedReplacedOrRemovedAndBounded) {
  Json kept = Json::object();
  auto merged = apply_config_data(R"({"data": {"hw": "rev2", "serial": "S1"}, "status": {"execution": "closed"}})", kept);
  ASSERT_TRUE(merged) << merged.error().describe();
  EXPECT_EQ(*merged, Json::parse(R"({"hw": "rev2", "serial": "S1"})"));
  auto more = apply_config_data(R"({"mode": "merge", "data": {"hw": "rev3"}})", *merged);
  EXPECT_EQ(*more, Json::parse(R"({"hw": "rev3", "serial": "S1"})"));
  auto removed = apply_config_data(R"({"mode": "remove", "data": {"hw": ""}})", *more);
  EXPECT_EQ(*removed, Json::parse(R"({"serial": "S1"})"));
  auto replaced = apply_config_data(R"({"mode": "replace", "data": {"os": "x"}})", *removed);
  EXPECT_EQ(*replaced, Json::parse(R"({"os": "x"})"));
  for (const char* bad : {R"({"data": {"hw": 2}})", R"({"data": []})", R"({})", R"({"data": {}, "mode": "append"})",
                          R"({"data": {}, "extra": 1})"}) {
    EXPECT_FALSE(apply_config_data(bad, kept)) << bad;
  }
  Json big = {{"data", Json::object()}};
  for (int i = 0; i < 65; ++i) big["data"]["k" + std::to_string(i)] = "v";
  EXPECT_FALSE(apply_config_data(big.dump(), kept));
  EXPECT_FALSE(apply_config_data(Json{{"data", {{"k", std::string(513, 'v')}}}}.dump(), kept));
}

}  // namespace
}  // namespace flotilla::server::ddi
