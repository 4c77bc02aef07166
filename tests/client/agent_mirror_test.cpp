// Bundles from a mirror (flotilla-server --bundle-base-url): a real nginx
// serves a directory `flotilla bundles sync-mirror` filled; the real agent
// downloads from it without sending it the device token, falls back to
// the server when the mirror is down or has not synced yet, and refuses a
// genuine bundle other than the one offered.
#include <gtest/gtest.h>

#include "signing/digest.hpp"
#include "tests/client/agent_server_fixture.hpp"
#include "tests/support/nginx_process.hpp"

namespace flotilla {
namespace {

using testing::read_text;

class AgentMirrorTest : public AgentServerTest {
 protected:
  int mirror_port = testing::free_port();
  std::unique_ptr<testing::NginxProcess> mirror;

  std::vector<std::string> serve_args() const override {
    return {"--bundle-base-url", "http://127.0.0.1:" + std::to_string(mirror_port) + "/bundles/"};
  }

  void start_mirror() {
    std::filesystem::create_directories(dir / "mirror");
    mirror = std::make_unique<testing::NginxProcess>(
        dir / "nginx",
        "server {\n  listen 127.0.0.1:" + std::to_string(mirror_port) + ";\n  location /bundles/ {\n    alias " +
            (dir / "mirror").string() + "/;\n  }\n}\n",
        mirror_port);
  }

  int sync_mirror(const std::string& flags = "") {
    return testing::run_shell(std::string(FLOTILLA_CLI) + " --server " + server->url() + " --token-file '" +
                              (server->data() / "admin.token").string() + "' bundles sync-mirror '" +
                              (dir / "mirror").string() + "' " + flags + " >> '" + (dir / "cli.log").string() + "' 2>&1");
  }

  std::int64_t served_by_server() {
    auto metrics = admin->request("GET", "/metrics")->body;
    auto at = metrics.find("\nflotilla_bundle_bytes_served_total ");
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + 36));
  }

  // Installs the offered update and commits it; the deployment's state.
  std::string install_and_commit(std::int64_t deployment) {
    EXPECT_EQ(agent("run --once"), 77) << read_text(dir / "agent.log");
    EXPECT_EQ(agent("boot"), 0);
    EXPECT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
    return admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json()["devices"][0]["state"];
  }
};

TEST_F(AgentMirrorTest, SyncWritesEachBundleByDigestOnceAndKeepsTheMirrorTidy) {
  std::string first = upload_bundle("2.4.0");
  ASSERT_EQ(sync_mirror(), 0) << read_text(dir / "cli.log");
  auto file = dir / "mirror" / (first + ".flb");
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_EQ(*signing::sha256_file_hex(file), first);
  std::string second = upload_bundle("2.5.0");
  ASSERT_EQ(sync_mirror(), 0);
  EXPECT_NE(read_text(dir / "cli.log").find("1 fetched, 1 already present"), std::string::npos) << read_text(dir / "cli.log");
  // A damaged copy of the same size is found with --verify and fetched again.
  std::string damaged = read_text(file);
  damaged[damaged.size() / 2] ^= 1;
  testing::write_text(file, damaged);
  ASSERT_EQ(sync_mirror("--verify"), 0);
  EXPECT_EQ(*signing::sha256_file_hex(file), first);
  // Bundles deleted on the server leave the mirror with --delete; other
  // files in the directory are not the mirror's to remove.
  ASSERT_EQ(admin->request("DELETE", "/api/v1/bundles/" + second)->status, 200);
  testing::write_text(dir / "mirror" / "README", "not a bundle");
  ASSERT_EQ(sync_mirror("--delete"), 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "mirror" / (second + ".flb")));
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_TRUE(std::filesystem::exists(dir / "mirror" / "README"));
  for (const auto& entry : std::filesystem::directory_iterator(dir / "mirror")) {
    EXPECT_EQ(entry.path().string().find("incoming"), std::string::npos) << "a temporary file was left: " << entry.path();
  }
}

TEST_F(AgentMirrorTest, DevicesDownloadFromTheMirrorWithoutTheirToken) {
  start_mirror();
  auto device = enrolled();
  std::string bundle = upload_bundle("2.4.0");
  ASSERT_EQ(sync_mirror(), 0) << read_text(dir / "cli.log");
  auto deployment = deploy(bundle, device);
  auto before = served_by_server();
  EXPECT_EQ(install_and_commit(deployment), "succeeded") << read_text(dir / "agent.log");
  auto log = read_text(mirror->access_log());
  EXPECT_NE(log.find("GET /bundles/" + bundle + ".flb HTTP/1.1 200"), std::string::npos) << log;
  EXPECT_NE(log.find("auth=-"), std::string::npos) << log;
  EXPECT_EQ(log.find("Bearer"), std::string::npos) << "the mirror was sent the device token: " << log;
  EXPECT_EQ(served_by_server(), before) << "the bundle came from the server, not the mirror";
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");
}

TEST_F(AgentMirrorTest, AMirrorThatIsBehindOrDownSendsDevicesToTheServer) {
  auto device = enrolled();
  // Down: nothing listens at the mirror's address.
  std::string bundle = upload_bundle("2.4.0");
  auto deployment = deploy(bundle, device);
  EXPECT_EQ(install_and_commit(deployment), "succeeded") << read_text(dir / "agent.log");
  EXPECT_NE(read_text(dir / "agent.log").find("continuing from " + server->url()), std::string::npos)
      << read_text(dir / "agent.log");
  // Behind: the mirror answers, but has not synced the new bundle (404).
  start_mirror();
  std::string next = upload_bundle("2.5.0");
  deployment = deploy(next, device);
  auto before = served_by_server();
  EXPECT_EQ(install_and_commit(deployment), "succeeded") << read_text(dir / "agent.log");
  EXPECT_NE(read_text(mirror->access_log()).find("GET /bundles/" + next + ".flb HTTP/1.1 404"), std::string::npos);
  EXPECT_GT(served_by_server(), before);
  EXPECT_EQ(testing::read_head(dir / "slot-a", 150011), std::string(150000, 'r') + "gw-os-2.5.0");
}

// A mirror (or whoever controls it) swaps in another bundle the release
// key did sign: genuine, but not what the server offered. Refused before
// a byte reaches the slot, and reported.
TEST_F(AgentMirrorTest, AGenuineBundleOtherThanTheOfferedOneIsRefused) {
  start_mirror();
  auto device = enrolled();
  std::string offered = upload_bundle("2.4.0");
  auto other = testing::sample_manifest();
  other.version = *common::Version::parse("2.4.1");
  std::string swapped_in = upload_bundle_of(other);
  ASSERT_EQ(sync_mirror(), 0);
  std::filesystem::copy_file(dir / "mirror" / (swapped_in + ".flb"), dir / "mirror" / (offered + ".flb"),
                             std::filesystem::copy_options::overwrite_existing);
  auto deployment = deploy(offered, device);
  ASSERT_EQ(agent("run --once"), 0) << read_text(dir / "agent.log");
  auto shown = admin->request("GET", "/api/v1/deployments/" + std::to_string(deployment))->json();
  EXPECT_EQ(shown["devices"][0]["state"], "failed") << shown.dump();
  EXPECT_NE(shown["devices"][0]["message"].get<std::string>().find("not the offered bundle"), std::string::npos) << shown.dump();
  EXPECT_TRUE(read_text(dir / "slot-b") == std::string(testing::kTestSlotBytes, '\0'));  // not a byte written
}

}  // namespace
}  // namespace flotilla
