// A GoogleTest fixture with a running flotilla-server: a fresh data
// directory initialised with a test trust root, on a free loopback port.
#pragma once

#include <gtest/gtest.h>
#include <memory>

#include "artifacts/writer.hpp"
#include "cli/api_client.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {

class RunningServer : public ::testing::Test {
 protected:
  TempDir dir;
  TrustSetup trust;
  std::unique_ptr<ServerProcess> server;

  // Extra `serve` arguments for the server SetUp() starts.
  virtual std::vector<std::string> serve_args() const { return {}; }

  void SetUp() override {
    write_text(dir / "root.json", trust.root_json);
    server = std::make_unique<ServerProcess>(FLOTILLA_SERVER, dir / "data", (dir / "root.json").string());
    server->start(serve_args());
  }

  // Where clients send API calls: the server itself, or a front before it.
  virtual std::string api_url() const { return server->url(); }
  cli::ApiClient admin_client() const { return cli::ApiClient(api_url(), server->admin_token()); }

  std::string enrollment_token(const std::string& types_json = R"(["gw-x1"])", int uses = 10,
                               const std::string& expires = "2099-01-01T00:00:00Z") {
    auto response = admin_client().request("POST", "/api/v1/enrollment-tokens",
                                   R"({"name": "factory", "device_types": )" + types_json + R"(, "max_uses": )" +
                                       std::to_string(uses) + R"(, "expires_at": ")" + expires + R"("})");
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json()["token"];
  }

  std::string upload_bundle(const std::string& version = "2.4.0") {
    auto manifest = testing::sample_manifest();
    manifest.version = *common::Version::parse(version);
    return upload_bundle_of(manifest);
  }

  // Any manifest, with one raw-image payload; returns the file digest.
  std::string upload_bundle_of(const artifacts::Manifest& manifest) {
    std::string version = manifest.name + "-" + manifest.version.text();
    write_text(dir / "rootfs.img", std::string(150000, 'r') + version);
    artifacts::Payload raw{.name = "rootfs.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
    auto out = dir / (version + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({manifest, {{raw, dir / "rootfs.img"}}}, {&trust.release_key}, out));
    auto response = admin_client().upload("/api/v1/bundles", out);
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json()["file_sha256"];
  }
};

}  // namespace flotilla::testing
