// The `flotilla` binary as a release engineer uses it: exact commands,
// exit codes (0 ok, 1 failed/invalid, 2 usage) and what lands on disk.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/json.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::TempDir;
using testing::write_text;

struct CommandResult {
  int code;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  TempDir dir;

  CommandResult run(const std::string& args) {
    std::string command = "cd '" + dir.path().string() + "' && " FLOTILLA_CLI " " + args +
                          " > out.txt 2> err.txt < /dev/null";
    int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir / "out.txt"),
            read_text(dir / "err.txt")};
  }

  // Keys, a root and payload files, as a release engineer would set up.
  void setup_release() {
    ASSERT_EQ(run("keygen --out root").code, 0);
    ASSERT_EQ(run("keygen --out release --alg ecdsa-p256").code, 0);
    ASSERT_EQ(run("root init --root-key root.pub --release-key release.pub --sign root.key -o root.json").code, 0);
    write_text(dir / "rootfs.img", std::string(100000, 'r'));
    write_text(dir / "wifi.ko", "module");
    write_text(dir / "modem.bin", "firmware");
  }

  const std::string kCreate =
      "bundle create --key release.key --name gw-os --kind os --component rootfs --version 2.4.0 "
      "--security-version 7 --compatible gw-x1 --compatible gw-x2 --requires 'rootfs=>=2.3.0 <3.0.0' "
      "--raw-image rootfs=rootfs.img --file /lib/modules/extra/wifi.ko=wifi.ko:0644 "
      "--module modem-flasher=modem.bin --notes 'test release'";
};

TEST_F(CliTest, HelpListsEveryCommandAndExitsZero) {
  auto help = run("--help");
  EXPECT_EQ(help.code, 0);
  for (const char* command : {"keygen", "root", "bundle"}) EXPECT_NE(help.out.find(command), std::string::npos);
  auto bundle_help = run("bundle --help");
  for (const char* command : {"create", "inspect", "verify"}) {
    EXPECT_NE(bundle_help.out.find(command), std::string::npos) << command;
  }
  auto create_help = run("bundle create --help");
  for (const char* flag : {"--key", "--raw-image", "--file", "--module", "--requires", "--compress"}) {
    EXPECT_NE(create_help.out.find(flag), std::string::npos) << flag;
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").code, 2);
  EXPECT_EQ(run("frobnicate").code, 2);
  EXPECT_EQ(run("keygen").code, 2);
  EXPECT_EQ(run("keygen --out k --alg rsa").code, 2);
  EXPECT_EQ(run("bundle verify x.flb").code, 2);
}

TEST_F(CliTest, KeygenWritesPrivateKey0600AndRefusesToOverwrite) {
  auto first = run("keygen --out k");
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find("key id "), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "k.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string before = read_text(dir / "k.key");
  auto second = run("keygen --out k");
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.err.find("k.key"), std::string::npos) << second.err;
  EXPECT_EQ(read_text(dir / "k.key"), before);
}

TEST_F(CliTest, CreateInspectVerify) {
  setup_release();
  auto created = run(kCreate + " -o gw.flb");
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_NE(created.out.find("bundle id "), std::string::npos);

  auto inspect = run("bundle inspect gw.flb --json");
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  auto doc = common::Json::parse(inspect.out);
  EXPECT_EQ(doc["manifest"]["version"], "2.4.0");
  EXPECT_EQ(doc["manifest"]["payloads"].size(), 3u);
  EXPECT_EQ(doc["manifest"]["payloads"][1]["path"], "/lib/modules/extra/wifi.ko");
  EXPECT_EQ(doc["entries"][3]["path"], "payloads/modem.bin");
  EXPECT_EQ(doc["signatures"].size(), 1u);
  EXPECT_NE(run("bundle inspect gw.flb").out.find("modem-flasher"), std::string::npos);

  auto ok = run("bundle verify --root root.json --device-type gw-x2 gw.flb");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("valid: gw-os 2.4.0"), std::string::npos);
  auto wrong_type = run("bundle verify --root root.json --device-type gw-x9 gw.flb");
  EXPECT_EQ(wrong_type.code, 1);
  EXPECT_NE(wrong_type.err.find("gw-x9"), std::string::npos);
}

TEST_F(CliTest, ZstdBundleVerifies) {
  setup_release();
  ASSERT_EQ(run(kCreate + " --compress zstd -o gw.flb").code, 0);
  EXPECT_LT(std::filesystem::file_size(dir / "gw.flb"), 10000u);
  EXPECT_EQ(run("bundle verify --root root.json gw.flb").code, 0);
}

TEST_F(CliTest, TamperedBundleIsInvalidWithOneClearReason) {
  setup_release();
  ASSERT_EQ(run(kCreate + " -o gw.flb").code, 0);
  std::string bytes = read_text(dir / "gw.flb");
  auto pos = bytes.find(std::string(1000, 'r'));
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 500] = 'X';
  write_text(dir / "gw.flb", bytes);
  auto result = run("bundle verify --root root.json gw.flb");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("does not match its SHA-256"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1);
}

TEST_F(CliTest, BundleSignedByAnotherKeyIsInvalid) {
  setup_release();
  ASSERT_EQ(run("keygen --out other").code, 0);
  auto created = run(kCreate + " -o gw.flb");
  ASSERT_EQ(created.code, 0);
  std::string cmd = kCreate;
  cmd.replace(cmd.find("release.key"), 11, "other.key");
  ASSERT_EQ(run(cmd + " -o other.flb").code, 0);
  auto result = run("bundle verify --root root.json other.flb");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("signature"), std::string::npos) << result.err;
}

TEST_F(CliTest, CreateRejectsBadArgumentsAsUsage) {
  setup_release();
  const char* bad[] = {"--file wifi.ko", "--file relative/x=wifi.ko", "--file /x=wifi.ko:9999",
                       "--raw-image rootfs.img", "--requires rootfs", "--swu wifi.ko --module m=wifi.ko"};
  for (const char* extra : bad) {
    std::string cmd = "bundle create --key release.key --name n --kind os --component c --version 1.0.0 "
                      "--security-version 1 --compatible t " + std::string(extra) + " -o x.flb";
    auto result = run(cmd);
    EXPECT_EQ(result.code, 2) << extra << ": " << result.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "x.flb")) << extra;
  }
  auto bad_version = run("bundle create --key release.key --name n --kind os --component c --version 1.0 "
                         "--security-version 1 --compatible t --module m=wifi.ko -o x.flb");
  EXPECT_EQ(bad_version.code, 2);
  EXPECT_NE(bad_version.err.find("--version"), std::string::npos) << bad_version.err;
  ASSERT_EQ(run(kCreate + " -o gw.flb").code, 0);
  EXPECT_EQ(run(kCreate + " -o gw.flb").code, 2);  // exists, no --force
  EXPECT_EQ(run(kCreate + " -o gw.flb --force").code, 0);
}

TEST_F(CliTest, AnSwuImageIsWrappedAsASignedSwuPayload) {
  setup_release();
  write_text(dir / "app.swu", std::string(4000, 'w'));
  auto created = run("bundle create --key release.key --name app-fw --kind firmware --component app --version 2.0.0 "
                     "--security-version 1 --compatible sw-x1 --swu app.swu -o app.flb");
  ASSERT_EQ(created.code, 0) << created.err;
  auto inspected = run("bundle inspect app.flb");
  EXPECT_NE(inspected.out.find("app.swu  swu  SWUpdate image  4000 bytes"), std::string::npos) << inspected.out;
  EXPECT_EQ(run("bundle verify --root root.json app.flb").code, 0);
}

TEST_F(CliTest, RootRotationChain) {
  setup_release();
  ASSERT_EQ(run("keygen --out root2").code, 0);
  // Signed only by the new key: refused, nothing written.
  auto only_new = run("root rotate --from root.json --root-key root2.pub --sign root2.key -o root-v2.json");
  EXPECT_EQ(only_new.code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir / "root-v2.json"));
  auto both = run("root rotate --from root.json --root-key root2.pub --sign root.key --sign root2.key -o root-v2.json");
  ASSERT_EQ(both.code, 0) << both.err;
  auto verify = run("root verify --root root.json --root-update root-v2.json");
  EXPECT_EQ(verify.code, 0) << verify.err;
  EXPECT_NE(verify.out.find("root version 2"), std::string::npos);
  // Skipping: v3 signed by v2's key, walked from v1 directly.
  ASSERT_EQ(run("root rotate --from root-v2.json --sign root2.key -o root-v3.json").code, 0);
  EXPECT_EQ(run("root verify --root root.json --root-update root-v3.json").code, 1);
  EXPECT_EQ(run("root verify --root root.json --root-update root-v2.json --root-update root-v3.json").code, 0);
  // Bundles verify through the chain.
  ASSERT_EQ(run(kCreate + " -o gw.flb").code, 0);
  EXPECT_EQ(run("bundle verify --root root.json --root-update root-v2.json gw.flb").code, 0);
}

TEST_F(CliTest, ExpiredRootIsRefused) {
  setup_release();
  ASSERT_EQ(run("root init --root-key root.pub --release-key release.pub --sign root.key "
                "--expires 2020-01-01T00:00:00Z -o old.json").code, 0);
  auto verify = run("root verify --root old.json");
  EXPECT_EQ(verify.code, 1);
  EXPECT_NE(verify.err.find("expired"), std::string::npos);
  ASSERT_EQ(run(kCreate + " -o gw.flb").code, 0);
  EXPECT_EQ(run("bundle verify --root old.json gw.flb").code, 1);
}

TEST_F(CliTest, RootInitRefusesUnmetThreshold) {
  setup_release();
  auto result = run("root init --root-key root.pub --release-key release.pub --release-threshold 2 "
                    "--sign root.key -o r.json");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("threshold"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "r.json"));
}

TEST_F(CliTest, EveryExamplePolicyAndBaselineValidates) {
  std::filesystem::path examples = std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples";
  int policies = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples / "policies")) {
    auto result = run("policy validate '" + entry.path().string() + "'");
    EXPECT_EQ(result.code, 0) << entry.path() << ": " << result.err;
    ++policies;
  }
  EXPECT_GE(policies, 5);
  for (const auto& entry : std::filesystem::directory_iterator(examples / "baselines")) {
    auto result = run("policy validate --baseline '" + entry.path().string() + "'");
    EXPECT_EQ(result.code, 0) << entry.path() << ": " << result.err;
  }
}

TEST_F(CliTest, PolicyValidateListsEveryError) {
  write_text(dir / "bad.json", R"({"name": "x", "bundle": {"name": "gw-os", "version": "2.4"}, "target": {"device_types": ["gw-x1"]},
    "waves": [{"name": "a", "size": "50%"}, {"name": "b", "size": "10%"}], "extra": 1})");
  auto result = run("policy validate bad.json");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("3 error(s)"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("/bundle/version"), std::string::npos);
  EXPECT_NE(result.err.find("/waves/1/size: 10% is smaller than the wave before it (50%)"), std::string::npos);
  EXPECT_NE(result.err.find("/extra: unknown key"), std::string::npos);
  write_text(dir / "dup.json", R"({"name": "x", "name": "y"})");
  EXPECT_EQ(run("policy validate dup.json").code, 1);
}

// A fleet file of `n` gw-x1 devices at gw-os 2.3.1, every third in region us.
void write_fleet(const std::filesystem::path& path, int n) {
  common::Json fleet = common::Json::array();
  for (int i = 0; i < n; ++i) {
    fleet.push_back({{"id", "dev-" + std::to_string(i)}, {"type", "gw-x1"},
                     {"labels", {{"region", i % 3 == 0 ? "us" : "eu"}}}, {"versions", {{"gw-os", "2.3.1"}}}});
  }
  write_text(path, fleet.dump());
}

TEST_F(CliTest, PolicySimulateRehearsesTheRolloutDeterministically) {
  write_fleet(dir / "fleet.json", 400);
  std::string policy = (std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/policies/canary-then-fleet.json").string();
  std::string args = "policy simulate '" + policy + "' --fleet fleet.json --start 2026-12-01T00:00:00Z --json";
  auto result = run(args);
  ASSERT_EQ(result.code, 0) << result.err;
  auto j = common::Json::parse(result.out);
  ASSERT_EQ(j["waves"].size(), 3u);
  EXPECT_EQ(j["waves"][0]["name"], "canary");
  EXPECT_EQ(j["waves"][0]["devices"].size(), 5u);  // 1 % of 400 = 4, min_devices 5
  EXPECT_EQ(j["waves"][0]["devices"].size() + j["waves"][1]["devices"].size(), 40u);  // cumulative 10 %
  std::size_t placed = 0;
  for (const auto& w : j["waves"]) placed += w["devices"].size();
  EXPECT_EQ(placed, 400u);
  EXPECT_EQ(j["outcome"], "completed");
  EXPECT_EQ(j["succeeded"], 400);
  // The timeline: canary, its soak and approval, then early, then all.
  std::vector<std::string> events;
  for (const auto& t : j["timeline"]) events.push_back(t["event"]);
  auto at = [&](const std::string& prefix) {
    return std::find_if(events.begin(), events.end(), [&](const std::string& e) { return e.starts_with(prefix); }) - events.begin();
  };
  EXPECT_LT(at("wave canary opens"), at("wave canary complete"));
  EXPECT_LT(at("wave canary complete"), at("wave canary waits for manual approval"));
  EXPECT_LT(at("wave canary waits for manual approval"), at("wave early opens"));
  EXPECT_LT(at("wave early opens"), at("wave all opens"));
  EXPECT_EQ(at("rollout completed"), static_cast<long>(events.size()) - 1);
  EXPECT_EQ(run(args).out, result.out);  // same seed, same run

  // Every device failing: the guard pauses the rollout once 10 finished.
  auto failing = run("policy simulate '" + policy + "' --fleet fleet.json --start 2026-12-01T00:00:00Z --failure-rate 1 --json");
  ASSERT_EQ(failing.code, 0) << failing.err;
  auto f = common::Json::parse(failing.out);
  EXPECT_NE(f["outcome"], "completed");
  EXPECT_EQ(f["succeeded"], 0);

  auto human = run("policy simulate '" + policy + "' --fleet fleet.json --start 2026-12-01T00:00:00Z");
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find("+0d00h00m  2026-12-01T00:00:00Z  wave canary opens: 5 device(s)"), std::string::npos) << human.out;
}

TEST_F(CliTest, PolicySimulateRefusesABadFleetNamingTheField) {
  std::string policy = (std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/policies/canary-then-fleet.json").string();
  write_text(dir / "f1.json", R"([{"id": "a", "type": "gw-x1"}, {"id": "b", "type": "gw-x1", "versions": {"gw-os": "2.3"}}])");
  auto result = run("policy simulate '" + policy + "' --fleet f1.json");
  EXPECT_EQ(result.code, 1);
  EXPECT_NE(result.err.find("/1/versions/gw-os"), std::string::npos) << result.err;
  write_text(dir / "f2.json", R"([{"id": "a", "type": "gw-x1"}, {"id": "a", "type": "gw-x1"}])");
  EXPECT_NE(run("policy simulate '" + policy + "' --fleet f2.json").err.find("/1/id: is listed twice"), std::string::npos);
  write_text(dir / "f3.json", R"({"id": "a"})");
  EXPECT_EQ(run("policy simulate '" + policy + "' --fleet f3.json").code, 1);
  write_text(dir / "f4.json", R"([{"id": "a", "type": "gw-x1", "colour": "red"}])");
  EXPECT_NE(run("policy simulate '" + policy + "' --fleet f4.json").err.find("/0/colour"), std::string::npos);
  EXPECT_EQ(run("policy simulate '" + policy + "' --fleet f1.json --failure-rate 2").code, 2);
  EXPECT_EQ(run("policy simulate '" + policy + "' --fleet missing.json").code, 1);
}

}  // namespace
}  // namespace flotilla
