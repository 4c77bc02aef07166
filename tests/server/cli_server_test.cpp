// The `flotilla` CLI against a real server: the commands an operator runs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/fixtures.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::ServerProcess;
using testing::TempDir;
using testing::TestDevice;
using testing::write_text;

class CliServerTest : public testing::RunningServer {
 protected:
  void SetUp() override {
    RunningServer::SetUp();
    write_text(dir / "release.key", trust.release_key.to_pem());
  }

  struct Output {
    int code;
    std::string out, err;
  };
  Output flotilla(const std::string& args) {
    std::string command = std::string(FLOTILLA_CLI) + " --server " + server->url() + " --token-file '" +
                          (server->data() / "admin.token").string() + "' " + args + " > '" + (dir / "out").string() +
                          "' 2> '" + (dir / "err").string() + "'";
    int code = testing::run_shell(command);
    return {code, read_text(dir / "out"), read_text(dir / "err")};
  }
};

TEST_F(CliServerTest, OperatorWorkflow) {
  auto enrollment = flotilla("enrollment-tokens create --name line1 --device-type gw-x1 --max-uses 5 --expires 2099-01-01T00:00:00Z");
  ASSERT_EQ(enrollment.code, 0) << enrollment.err;
  auto token_line = enrollment.out.substr(enrollment.out.find('\n') + 1);
  std::string secret = token_line.substr(0, token_line.find('\n'));
  ASSERT_TRUE(secret.starts_with("enr_")) << enrollment.out;

  TestDevice enrolled(server->url(), "gw-x1", "CLI1");
  ASSERT_EQ(enrolled.auth(secret).status, 200);
  TestDevice waiting(server->url(), "gw-x1", "CLI2");
  ASSERT_EQ(waiting.auth().status, 202);

  auto pending = flotilla("devices list --status pending");
  EXPECT_EQ(pending.code, 0);
  EXPECT_NE(pending.out.find(waiting.id().substr(0, 16)), std::string::npos) << pending.out;
  EXPECT_EQ(flotilla("devices accept " + waiting.id()).code, 0);
  EXPECT_EQ(flotilla("devices label " + waiting.id() + " region=eu tier=gold").code, 0);
  EXPECT_NE(flotilla("devices list --label region=eu").out.find("region=eu"), std::string::npos);
  EXPECT_EQ(flotilla("devices label " + waiting.id() + " notalabel").code, 2);
  EXPECT_EQ(flotilla("devices show nope").code, 1);

  write_text(dir / "img", std::string(50000, 'i'));
  ASSERT_EQ(testing::run_shell(std::string(FLOTILLA_CLI) + " bundle create --key '" + (dir / "release.key").string() +
                               "' --name gw-os --kind os --component rootfs --version 2.4.0 --security-version 7 "
                               "--compatible gw-x1 --raw-image rootfs='" + (dir / "img").string() + "' -o '" +
                               (dir / "b.flb").string() + "' > /dev/null"),
            0);
  auto upload = flotilla("bundles upload '" + (dir / "b.flb").string() + "'");
  ASSERT_EQ(upload.code, 0) << upload.err;
  auto digest = upload.out.substr(upload.out.find('(') + 1, 64);
  auto deploy = flotilla("deployments create --bundle " + digest + " --device " + enrolled.id());
  ASSERT_EQ(deploy.code, 0) << deploy.err;
  EXPECT_NE(deploy.out.find("deployment 1 created"), std::string::npos);
  auto shown = flotilla("deployments show 1");
  EXPECT_NE(shown.out.find("pending"), std::string::npos) << shown.out;
  auto bad = flotilla("deployments create --bundle " + digest + " --device nope");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("/devices/0"), std::string::npos) << bad.err;
  auto json = flotilla("--json deployments list");
  EXPECT_EQ(common::Json::parse(json.out)["deployments"].size(), 1u);
  EXPECT_EQ(flotilla("audit verify").code, 0);
}

TEST_F(CliServerTest, UnreachableServerNamesTheSettingToCheck) {
  auto result = testing::run_shell(std::string(FLOTILLA_CLI) + " --server http://127.0.0.1:1 bundles list 2> '" +
                                   (dir / "err").string() + "'");
  EXPECT_EQ(result, 1);
  EXPECT_NE(read_text(dir / "err").find("FLOTILLA_SERVER"), std::string::npos);
}

}  // namespace
}  // namespace flotilla
