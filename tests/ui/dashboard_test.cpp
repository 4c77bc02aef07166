// The operator dashboard in a real browser: flotilla-server serves /ui/,
// a simulated fleet runs the real agent, and tests/ui/dashboard.mjs drives
// Debian's chromium through playwright-core (sign in, the overview against
// the API, a hostile label shown as text, a rollout approved, watched and
// paused, the compliance CSV downloaded, the audit chain). Screenshots go
// to build/test-output/ui/ for people to look at.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/fleet_sim_process.hpp"
#include "tests/support/server_fixture.hpp"

namespace flotilla {
namespace {

using namespace std::chrono_literals;
using testing::read_text;
using testing::write_text;

const std::filesystem::path kTests = std::filesystem::path(FLOTILLA_SOURCE_DIR) / "tests" / "ui";
const std::filesystem::path kOutput = std::filesystem::path(FLOTILLA_TEST_OUTPUT) / "ui";

// A label value that would run script if the page ever parsed it as HTML.
constexpr const char* kHostileLabel =
    R"(<script>window.__flotillaXss=1</script>"'><img src=x onerror="window.__flotillaXss=2">)";

class DashboardTest : public testing::RunningServer {
 protected:
  std::vector<std::string> serve_args() const override { return {"--scheduler-interval", "1"}; }
};

TEST_F(DashboardTest, ServesTheFilesWithStrictHeaders) {
  auto client = cli::ApiClient(server->url(), "");
  auto page = client.request("GET", "/ui/");
  ASSERT_TRUE(page) << page.error().describe();
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script type=\"module\" src=\"js/app.js\">"), std::string::npos);
  EXPECT_EQ(page->body.find("<script>"), std::string::npos) << "no inline script";
  auto script = client.request("GET", "/ui/js/app.js");
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(client.request("GET", "/ui/js/missing.js")->status, 404);
  EXPECT_EQ(client.request("GET", "/ui/../flotilla.db")->status, 404);
  EXPECT_EQ(client.request("POST", "/ui/", "{}")->status, 405);
  auto root = client.request("GET", "/");
  EXPECT_EQ(root->status, 302);

  // The headers, as curl receives them.
  auto headers_of = [&](const std::string& path) {
    auto file = dir / "headers.txt";
    EXPECT_EQ(testing::run_shell("curl -s -o /dev/null -D '" + file.string() + "' '" + server->url() + path + "'"), 0);
    return read_text(file);
  };
  auto page_headers = headers_of("/ui/");
  for (const char* expected : {"Content-Security-Policy: default-src 'none'; script-src 'self'", "frame-ancestors 'none'",
                               "X-Content-Type-Options: nosniff", "X-Frame-Options: DENY", "Referrer-Policy: no-referrer",
                               "Content-Type: text/html; charset=utf-8", "ETag: \""}) {
    EXPECT_NE(page_headers.find(expected), std::string::npos) << expected << " in\n" << page_headers;
  }
  EXPECT_NE(headers_of("/ui/js/app.js").find("Content-Type: text/javascript"), std::string::npos);
  // Every answer, the API's errors too, forbids type sniffing.
  EXPECT_NE(headers_of("/api/v1/devices").find("X-Content-Type-Options: nosniff"), std::string::npos);
  // An unchanged file is not sent again.
  auto etag_at = page_headers.find("ETag: ");
  std::string etag = page_headers.substr(etag_at + 6, page_headers.find('\r', etag_at) - etag_at - 6);
  EXPECT_EQ(testing::run_shell("test \"$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: " + etag + "' '" +
                               server->url() + "/ui/')\" = 304"),
            0);
}

TEST_F(DashboardTest, NoUiServesNoDashboard) {
  testing::ServerProcess bare(FLOTILLA_SERVER, dir / "bare", (dir / "root.json").string());
  bare.start({"--no-ui"});
  auto client = cli::ApiClient(bare.url(), "");
  EXPECT_EQ(client.request("GET", "/ui/")->status, 404);
  EXPECT_EQ(client.request("GET", "/ui/js/app.js")->status, 404);
  EXPECT_EQ(client.request("GET", "/healthz")->status, 200);
}

TEST_F(DashboardTest, AnOperatorFollowsAndSteersARolloutInTheBrowser) {
  ASSERT_TRUE(std::filesystem::exists(kTests / "node_modules" / "playwright-core"))
      << "playwright-core is not installed: run scripts/setup (npm ci in tests/ui)";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "chromium is not installed: run scripts/setup";
  upload_bundle("2.4.0");
  constexpr int kDevices = 12;
  write_text(dir / "enroll.token", enrollment_token(R"(["gw-x1"])", kDevices));
  testing::FleetSimProcess sim(FLOTILLA_SIM, dir.path(),
                               "--server " + server->url() + " --enrollment-token-file '" + (dir / "enroll.token").string() +
                                   "' --trust-root '" + (dir / "root.json").string() + "' --devices " +
                                   std::to_string(kDevices) + " --types gw-x1 --initial rootfs=2.3.0 --poll-interval 1s --duration 10m");
  auto admin = admin_client();
  common::Json devices;
  for (int i = 0; i < 120; ++i) {
    devices = admin.request("GET", "/api/v1/devices?status=accepted")->json()["devices"];
    if (devices.size() == kDevices) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(devices.size(), kDevices) << sim.errors();

  std::filesystem::remove_all(kOutput);
  std::filesystem::create_directories(kOutput);
  std::string xss_device = devices[0]["id"];
  common::Json labels = {{"labels", {{"note", kHostileLabel}, {"region", "eu"}}}};
  ASSERT_EQ(admin.request("PUT", "/api/v1/devices/" + xss_device + "/labels", labels.dump())->status, 200);
  write_text(kOutput / "xss-label.json", common::Json{{"note", kHostileLabel}}.dump());

  // The canary waits for an operator's approval before the rest: the
  // browser pauses, resumes and approves it.
  auto created = admin.request("POST", "/api/v1/rollouts", R"({"name": "os-2.4.0", "bundle": {"name": "gw-os", "version": "2.4.0"},
      "target": {"device_types": ["gw-x1"]},
      "waves": [{"name": "canary", "size": "25%", "approval": "manual"}, {"name": "all", "size": "100%"}],
      "device_timeout": "10m"})");
  ASSERT_EQ(created->status, 201) << created->body;
  std::string rollout = created->json()["id"].dump();

  write_text(dir / "operator.token", server->admin_token());
  auto auditor = admin.request("POST", "/api/v1/tokens", R"({"name": "auditor", "role": "auditor"})");
  ASSERT_EQ(auditor->status, 201);
  write_text(dir / "auditor.token", auditor->json()["token"].get<std::string>());
  auto publisher = admin.request("POST", "/api/v1/tokens", R"({"name": "release-ci", "role": "publisher"})");
  ASSERT_EQ(publisher->status, 201);
  write_text(dir / "publisher.token", publisher->json()["token"].get<std::string>());
  std::string command = "cd '" + kTests.string() + "' && FLOTILLA_URL='" + server->url() + "' FLOTILLA_TOKEN_FILE='" +
                        (dir / "operator.token").string() + "' FLOTILLA_AUDITOR_TOKEN_FILE='" +
                        (dir / "auditor.token").string() + "' FLOTILLA_PUBLISHER_TOKEN_FILE='" +
                        (dir / "publisher.token").string() + "' ROLLOUT_ID=" + rollout + " XSS_DEVICE=" + xss_device +
                        " OUT_DIR='" + kOutput.string() + "' node dashboard.mjs > '" + (dir / "browser.log").string() +
                        "' 2>&1";
  int status = testing::run_shell(command, 200);
  std::string log = read_text(dir / "browser.log");
  ASSERT_EQ(status, 0) << log;

  // What the browser did, seen from the API.
  auto view = admin.request("GET", "/api/v1/rollouts/" + rollout)->json();
  EXPECT_EQ(view["state"], "completed") << view.dump();
  for (const auto& wave : view["status"]["waves"]) EXPECT_EQ(wave["succeeded"], wave["eligible"]) << view.dump();
  auto result = common::Json::parse(read_text(kOutput / "result.json"));
  EXPECT_EQ(result["csv_lines"], kDevices + 1) << "a header and a row per device";
  // The signed report the browser downloaded verifies offline with the
  // server's report key.
  auto key = admin.request("GET", "/api/v1/trust/report-key");
  ASSERT_EQ(key->status, 200);
  write_text(dir / "report-key.pub", key->body);
  EXPECT_EQ(testing::run_shell(std::string(FLOTILLA_CLI) + " compliance verify '" + (kOutput / "compliance.signed.json").string() +
                               "' --key '" + (dir / "report-key.pub").string() + "' > /dev/null"),
            0);
  for (const char* shot : {"overview.png", "rollout.png", "rollout-tablet.png", "compliance.png"}) {
    auto png = read_text(kOutput / shot);
    EXPECT_GT(png.size(), 10000u) << shot;
    EXPECT_EQ(png.substr(1, 3), "PNG") << shot;
  }
  auto audit = admin.request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true);
  auto entries = admin.request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  std::vector<std::string> steered;
  for (const auto& e : entries) {
    if (e["object"] == "rollout:" + rollout && e["actor"].get<std::string>().starts_with("operator:admin")) steered.push_back(e["action"]);
  }
  EXPECT_EQ(steered, (std::vector<std::string>{"rollout.pause", "rollout.resume", "rollout.approve"}));
}

}  // namespace
}  // namespace flotilla
