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

// The CLI warns once when the token it uses runs out within a week, and
// rotating the token gives a secret that works at once.
TEST_F(CliServerTest, ATokenThatExpiresSoonIsWarnedAboutAndRotated) {
  auto soon = common::format_rfc3339(common::now_utc() + std::chrono::hours(50));
  auto created = flotilla("tokens create --name soon --role admin --expires " + soon);
  ASSERT_EQ(created.code, 0) << created.err;
  auto token_line = created.out.substr(created.out.find('\n') + 1);
  write_text(dir / "soon.token", token_line.substr(0, token_line.find('\n')) + "\n");
  auto with_soon_token = [&](const std::string& args) {
    std::string command = std::string(FLOTILLA_CLI) + " --server " + server->url() + " --token-file '" +
                          (dir / "soon.token").string() + "' " + args + " > '" + (dir / "out").string() + "' 2> '" +
                          (dir / "err").string() + "'";
    int code = testing::run_shell(command);
    return Output{code, read_text(dir / "out"), read_text(dir / "err")};
  };
  auto listed = with_soon_token("tokens list");
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.err.find("warning: the API token in use expires at " + soon + " (in 2 days"), std::string::npos) << listed.err;
  auto quiet = flotilla("tokens list");
  EXPECT_EQ(quiet.err.find("warning"), std::string::npos) << "a token without expiry is not warned about: " << quiet.err;

  std::string id = created.out.substr(6, created.out.find(' ', 6) - 6);
  auto rotated = flotilla("tokens rotate " + id + " --grace 60");
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  EXPECT_NE(rotated.out.find("replaces token " + id + ", whose secret works until"), std::string::npos) << rotated.out;
  EXPECT_EQ(flotilla("tokens rotate " + id + " --grace 99999999").code, 2) << "the grace is bounded";
  EXPECT_EQ(flotilla("tokens rotate 9999").code, 1);

  // Without --expires a token gets the server's lifetime; "never" asks for none.
  auto lifetime = flotilla("tokens create --name ci --role publisher");
  ASSERT_EQ(lifetime.code, 0) << lifetime.err;
  const auto in_90_days = common::format_rfc3339(common::now_utc() + std::chrono::days(90)).substr(0, 10);
  EXPECT_NE(lifetime.out.find("(ci, publisher, expires " + in_90_days), std::string::npos) << lifetime.out;
  auto forever = flotilla("tokens create --name kiosk --role auditor --expires never");
  ASSERT_EQ(forever.code, 0) << forever.err;
  EXPECT_NE(forever.out.find("(kiosk, auditor, never expires)"), std::string::npos) << forever.out;
}

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
  // A device that speaks hawkBit DDI: its token printed once, as JSON.
  auto ddi = flotilla("devices create-ddi --controller-id sw-0042 --device-type sw-x1 --label site=plant-3");
  ASSERT_EQ(ddi.code, 0) << ddi.err;
  auto registered = common::Json::parse(ddi.out);
  EXPECT_TRUE(registered["target_token"].get<std::string>().starts_with("ddi_")) << ddi.out;
  EXPECT_EQ(registered["controller_id"], "sw-0042");
  auto listed = flotilla("devices list --label site=plant-3");
  EXPECT_NE(listed.out.find("ddi"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("PROTOCOL"), std::string::npos) << listed.out;
  auto only_ddi = flotilla("--json devices list --protocol ddi");
  ASSERT_EQ(only_ddi.code, 0) << only_ddi.err;
  EXPECT_EQ(common::Json::parse(only_ddi.out)["devices"].size(), 1u) << only_ddi.out;
  auto native = flotilla("--json devices list --protocol flotilla");
  EXPECT_EQ(common::Json::parse(native.out)["devices"].size(), 2u) << native.out;
  EXPECT_EQ(flotilla("devices list --protocol mqtt").code, 2);
  EXPECT_EQ(flotilla("devices create-ddi --controller-id sw-0042 --device-type sw-x1").code, 1) << "registered already";
  EXPECT_EQ(flotilla("devices create-ddi --controller-id sw-0043 --device-type sw-x1 --label nolabel").code, 2);
  auto gateway = flotilla("ddi gateway-token create --device-type sw-x1");
  ASSERT_EQ(gateway.code, 0) << gateway.err;
  EXPECT_TRUE(common::Json::parse(gateway.out)["gateway_token"].get<std::string>().starts_with("ddigw_")) << gateway.out;
  EXPECT_EQ(flotilla("ddi gateway-token revoke").code, 0);
  EXPECT_EQ(flotilla("ddi gateway-token revoke").code, 1) << "there is none left";

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

TEST_F(CliServerTest, RolloutCommands) {
  std::string token = enrollment_token(R"(["gw-x1"])", 10);
  std::vector<std::unique_ptr<TestDevice>> devices;
  for (int i = 0; i < 6; ++i) {
    devices.push_back(std::make_unique<TestDevice>(server->url(), "gw-x1", "R" + std::to_string(i)));
    ASSERT_EQ(devices.back()->auth(token).status, 200);
    ASSERT_EQ(devices.back()->inventory(1, "2.3.0", 1).status, 200);
  }
  upload_bundle("2.4.0");
  write_text(dir / "policy.json", R"({"name": "cli-rollout", "bundle": {"name": "gw-os", "version": "2.4.0"},
    "target": {"device_types": ["gw-x1"]},
    "waves": [{"name": "canary", "size": "20%", "min_devices": 2, "approval": "manual"}, {"name": "all", "size": "100%"}]})");
  auto plan = flotilla("rollouts dry-run " + (dir / "policy.json").string());
  ASSERT_EQ(plan.code, 0) << plan.err;
  EXPECT_NE(plan.out.find("canary"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("skipped: 0"), std::string::npos) << plan.out;
  auto created = flotilla("rollouts create " + (dir / "policy.json").string());
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_NE(created.out.find("rollout 1 created"), std::string::npos) << created.out;
  EXPECT_NE(flotilla("rollouts list").out.find("cli-rollout"), std::string::npos);
  auto status = flotilla("rollouts status 1");
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("rollout 1 cli-rollout"), std::string::npos) << status.out;
  EXPECT_EQ(flotilla("rollouts approve 1 --wave nosuch").code, 1);
  EXPECT_EQ(flotilla("rollouts pause 1").code, 0);
  EXPECT_NE(flotilla("rollouts status 1").out.find(": paused (paused by operator:admin"), std::string::npos);
  EXPECT_EQ(flotilla("rollouts pause 1").code, 1);  // already paused: 409 explained
  EXPECT_EQ(flotilla("rollouts resume 1").code, 0);
  auto aborted = flotilla("rollouts abort 1");
  EXPECT_EQ(aborted.code, 0) << aborted.err;
  EXPECT_NE(aborted.out.find("rollout 1 is aborted"), std::string::npos) << aborted.out;
  auto watched = flotilla("rollouts status 1 --watch --interval 0.2");
  EXPECT_EQ(watched.code, 1);  // the rollout ended aborted
  EXPECT_NE(watched.out.find("aborted"), std::string::npos) << watched.out;
  EXPECT_EQ(flotilla("rollouts status nope").code, 1);
  EXPECT_EQ(flotilla("rollouts create " + (dir / "missing.json").string()).code, 1);
  write_text(dir / "bad.json", R"({"name": "x"})");
  auto bad = flotilla("rollouts create " + (dir / "bad.json").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("/bundle"), std::string::npos) << bad.err;
}

TEST_F(CliServerTest, BaselineCommands) {
  std::string q4 = (std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/baselines/2026-Q4.json").string();
  auto applied = flotilla("baselines apply " + q4);
  ASSERT_EQ(applied.code, 0) << applied.err;
  EXPECT_NE(applied.out.find("baseline 2026-Q4 applied (3 rule(s))"), std::string::npos) << applied.out;
  EXPECT_NE(flotilla("baselines list").out.find("2026-Q4"), std::string::npos);
  EXPECT_NE(flotilla("baselines show 2026-Q4").out.find("\"min_version\": \"2.4.0\""), std::string::npos);
  write_text(dir / "bad.json", R"({"name": "bad", "rules": []})");
  auto bad = flotilla("baselines apply " + (dir / "bad.json").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("/rules"), std::string::npos) << bad.err;
  EXPECT_EQ(flotilla("baselines delete 2026-Q4").code, 0);
  EXPECT_EQ(flotilla("baselines show 2026-Q4").code, 1);
}

}  // namespace
}  // namespace flotilla
