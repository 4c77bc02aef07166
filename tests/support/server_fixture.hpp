// A GoogleTest fixture with a running flotilla-server: a fresh data
// directory initialised with a test trust root, on a free loopback port.
#pragma once

#include <gtest/gtest.h>
#include <memory>

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

  cli::ApiClient admin_client() const { return cli::ApiClient(server->url(), server->admin_token()); }
};

}  // namespace flotilla::testing
