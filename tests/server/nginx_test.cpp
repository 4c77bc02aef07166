// The server behind a real nginx, configured from the shipped
// examples/nginx/flotilla.conf (TLS lines dropped, paths and ports
// substituted): uploads, X-Accel-Redirect downloads with Range, limits.
#include <gtest/gtest.h>

#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/nginx_process.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::ServerProcess;
using testing::TempDir;
using testing::TestDevice;
using testing::write_text;

class NginxTest : public testing::RunningServer {
 protected:
  std::unique_ptr<testing::NginxProcess> nginx;
  std::string front;

  std::vector<std::string> serve_args() const override { return {"--front", "none", "--accel-redirect", "/_flotilla_bundles/"}; }

  void SetUp() override {
    RunningServer::SetUp();
    std::string upstream_port = server->url().substr(server->url().rfind(':') + 1);
    int port = testing::free_port();
    auto site = testing::loopback_site("flotilla.conf", port, {{"127\\.0\\.0\\.1:8080", "127.0.0.1:" + upstream_port},
                                                               {"/var/lib/flotilla", (dir / "data").string()}});
    nginx = std::make_unique<testing::NginxProcess>(dir / "nginx", site, port);
    front = nginx->url();
  }
};

TEST_F(NginxTest, UploadAndDeviceDownloadsGoThroughNginx) {
  cli::ApiClient admin(front, server->admin_token());
  write_text(dir / "img", std::string(3 << 20, 'n'));
  artifacts::Payload raw{.name = "img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
  auto bundle_path = dir / "b.flb";
  ASSERT_TRUE(artifacts::write_bundle({testing::sample_manifest(), {{raw, dir / "img"}}}, {&trust.release_key}, bundle_path));
  auto uploaded = admin.upload("/api/v1/bundles", bundle_path);
  ASSERT_EQ(uploaded->status, 201) << uploaded->body;
  std::string digest = uploaded->json()["file_sha256"];

  auto token = admin.request("POST", "/api/v1/enrollment-tokens",
                             R"({"name": "n", "device_types": ["gw-x1"], "max_uses": 2, "expires_at": "2099-01-01T00:00:00Z"})")
                   ->json()["token"].get<std::string>();
  TestDevice device(front, "gw-x1", "NGX1");
  TestDevice other(front, "gw-x1", "NGX2");
  ASSERT_EQ(device.auth(token).status, 200);
  ASSERT_EQ(other.auth(token).status, 200);
  ASSERT_EQ(admin.request("POST", "/api/v1/deployments", common::Json{{"bundle", digest}, {"devices", {device.id()}}}.dump())->status, 201);
  auto offer = device.poll().json()["update"];
  ASSERT_FALSE(offer.is_null());

  std::string path = "/api/v1/device/bundles/" + digest;
  std::string whole = read_text(bundle_path);
  auto full = device.request("GET", path);
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.body.size(), whole.size());
  EXPECT_EQ(signing::sha256_hex(full.body), digest);
  auto resumed = device.request("GET", path, "", {"Range: bytes=1000000-"});
  EXPECT_EQ(resumed.status, 206);
  EXPECT_EQ(resumed.body, whole.substr(1000000));
  EXPECT_EQ(other.request("GET", path).status, 404);
  // The internal location is not reachable directly.
  EXPECT_EQ(device.request("GET", "/_flotilla_bundles/" + digest + ".flb").status, 404);
}

// The dashboard through the example config: the page and its headers pass.
TEST_F(NginxTest, DashboardGoesThroughNginxWithItsHeaders) {
  auto headers = dir / "headers.txt";
  ASSERT_EQ(testing::run_shell("curl -s -o '" + (dir / "page.html").string() + "' -D '" + headers.string() + "' '" + front +
                               "/ui/'"),
            0);
  auto text = read_text(headers);
  EXPECT_NE(text.find(" 200"), std::string::npos) << text;
  EXPECT_NE(text.find("frame-ancestors 'none'"), std::string::npos) << text;
  EXPECT_NE(text.find("X-Content-Type-Options: nosniff"), std::string::npos) << text;
  EXPECT_NE(read_text(dir / "page.html").find("js/app.js"), std::string::npos);
}

TEST_F(NginxTest, NginxStopsOversizedHeadersAndBodies) {
  cli::ApiClient admin(front, server->admin_token());
  auto big_header = admin.request("GET", "/api/v1/bundles", "", {"X-Padding: " + std::string(16000, 'p')});
  ASSERT_TRUE(big_header);
  EXPECT_EQ(big_header->status, 400);
  auto big_body = admin.request("POST", "/api/v1/device/poll", std::string(300 * 1024, ' '));
  EXPECT_EQ(big_body->status, 413);
}

}  // namespace
}  // namespace flotilla
