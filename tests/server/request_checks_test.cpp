// Every route refuses text that is not UTF-8 — in any query parameter, in
// a path segment, in the headers the server reads — with a 400 that names
// the part at fault, before a handler sees it. In process, over the route
// table, so a route added later is covered without a change here.
#include <gtest/gtest.h>

#include "common/json.hpp"
#include "server/api/app.hpp"
#include "server/api/auth.hpp"
#include "server/api/request_checks.hpp"
#include "server/store/sql_store.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla {
namespace {

// Every query parameter some route reads (and one none reads).
constexpr const char* kParameters[] = {"baseline", "format", "type",       "label",      "status",   "rollout", "after",
                                       "limit",    "offset", "seen_before", "seen_after", "tampered", "unknown"};
// Not UTF-8, overlong, a surrogate, cut short, and a control character.
constexpr std::string_view kBadValues[] = {"\xFF", "a\xC0\x80", "\xED\xA0\x80", "ok\xE2\x82", "line\nbreak"};

class RequestChecksTest : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::unique_ptr<server::SqlStore> store;
  std::unique_ptr<server::api::ServerApp> app;
  const std::string admin = "flt_test_admin";

  void SetUp() override {
    auto opened = server::SqlStore::open((dir / "flotilla.db").string());
    ASSERT_TRUE(opened) << opened.error().describe();
    store = std::move(*opened);
    server::TokenRecord token{.name = "t", .role = "admin", .created_at = "2026-01-01T00:00:00Z"};
    ASSERT_TRUE(store->create_token(token, server::api::token_hash(admin), {"t", "token.create", "token:t"}));
    app = std::make_unique<server::api::ServerApp>(*store, dir / "data");
  }

  server::http::Request request(const std::string& method, const std::string& pattern, const std::string& segment = "1") {
    server::http::Request r;
    r.method = method;
    r.path = pattern;
    for (auto at = r.path.find("{}"); at != std::string::npos; at = r.path.find("{}")) r.path.replace(at, 2, segment);
    r.headers["Authorization"] = "Bearer " + admin;
    return r;
  }

  // A 400 problem whose first error names `part`, repeating no input.
  void expect_refused(server::http::Request& r, const std::string& part, std::string_view bad, const std::string& label) {
    auto response = app->handle(r);
    ASSERT_EQ(response.status, 400) << label << ": " << response.body;
    EXPECT_EQ(response.content_type, "application/problem+json") << label;
    auto body = common::Json::parse(response.body);
    ASSERT_TRUE(body.contains("errors") && !body["errors"].empty()) << label << ": " << response.body;
    EXPECT_EQ(body["errors"][0]["path"], part) << label << ": " << response.body;
    EXPECT_EQ(response.body.find(bad), std::string::npos) << label << ": the bad bytes were echoed";
  }
};

TEST_F(RequestChecksTest, AnInvalidByteInAnyQueryParameterOfAnyRouteIsA400NamingIt) {
  auto routes = app->route_table();
  ASSERT_GT(routes.size(), 50u);
  int refused = 0;
  for (const auto& [method, pattern] : routes) {
    for (const char* parameter : kParameters) {
      for (auto bad : kBadValues) {
        auto r = request(method, pattern);
        r.query[parameter] = std::string(bad);
        expect_refused(r, parameter, bad, method + " " + pattern + "?" + parameter);
        ++refused;
      }
    }
    // A parameter name that is not text is never repeated.
    auto r = request(method, pattern);
    r.query["\xFFname"] = "x";
    expect_refused(r, "query", "\xFF", method + " " + pattern + " (name)");
  }
  EXPECT_EQ(refused, static_cast<int>(routes.size() * std::size(kParameters) * std::size(kBadValues)));
  EXPECT_TRUE(std::filesystem::is_empty(dir / "data" / "uploads"));
  EXPECT_FALSE(std::filesystem::exists(dir / "data" / "exports") && !std::filesystem::is_empty(dir / "data" / "exports"));
}

TEST_F(RequestChecksTest, AnInvalidByteInAPathSegmentOrAReadHeaderIsA400NamingIt) {
  for (const auto& [method, pattern] : app->route_table()) {
    if (pattern.find("{}") != std::string::npos) {
      for (auto bad : kBadValues) {
        auto r = request(method, pattern, std::string(bad));
        expect_refused(r, "path", bad, method + " " + pattern);
      }
    }
    for (const char* header : server::api::kReadHeaders) {
      auto r = request(method, pattern);
      r.headers[header] = "Bearer \xFF";
      expect_refused(r, header, "\xFF", method + " " + pattern + " " + header);
    }
  }
  auto ui = request("GET", "/ui/\xFF.js");
  expect_refused(ui, "path", "\xFF", "dashboard path");
}

TEST_F(RequestChecksTest, WellFormedTextStillReachesTheHandlers) {
  auto r = request("GET", "/api/v1/compliance");
  r.query["type"] = "gw-x1 é € \xF0\x9D\x84\x9E";
  r.query["label"] = "site=Zürich";
  auto response = app->handle(r);
  EXPECT_EQ(response.status, 200) << response.body;
  if (response.file && response.file->remove_when_sent) std::filesystem::remove(response.file->path);
  auto devices = request("GET", "/api/v1/devices");
  devices.query["type"] = "gw-x1";
  EXPECT_EQ(app->handle(devices).status, 200);
}

}  // namespace
}  // namespace flotilla
