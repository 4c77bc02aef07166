// A field gateway (docs/gateway.md) against the real server: flotilla-agent
// with the example adapter (examples/gateway/adapters/sim-mcu) serving 20
// simulated MCUs of two types, each a directory standing for a
// microcontroller's flash banks.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "common/encoding.hpp"
#include "signing/digest.hpp"
#include "tests/client/agent_server_fixture.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::write_text;
namespace fs = std::filesystem;

}  // namespace
namespace testing {
// The server's id of a child (docs/gateway.md).
std::string child_id_for(const std::string& device_type, const std::string& child_id) {
  return signing::sha256_hex("flotilla-child:" + device_type + ":" + child_id);
}
}  // namespace testing
namespace {

std::string firmware(const std::string& version, int security_version = 1, const std::string& component = "firmware") {
  return "SIMFW component=" + component + " version=" + version + " security_version=" + std::to_string(security_version) +
         "\n" + std::string(4000, 'f');
}

class GatewayTest : public AgentServerTest {
 protected:
  fs::path children;
  std::string gateway_id;

  void SetUp() override {
    AgentServerTest::SetUp();
    // The gateway enrolls with a token that lets it speak for children.
    auto token = admin->request("POST", "/api/v1/enrollment-tokens",
                                R"({"name": "gateways", "device_types": ["gw-x1"], "max_uses": 5,
                                    "expires_at": "2099-01-01T00:00:00Z", "gateway": true})");
    ASSERT_EQ(token->status, 201) << token->body;
    write_text(dir / "enroll.token", token->json()["token"].get<std::string>() + "\n");
    children = dir / "children";
    for (int i = 0; i < 20; ++i) {
      bool a = i < 10;
      char name[16];
      std::snprintf(name, sizeof name, "%s-%02d", a ? "mcua" : "mcub", i);
      add_child(name, a ? "mcu-a" : "mcu-b", a ? "ab" : "single");
    }
    fs::create_directories(dir / "adapters");
    fs::copy_file(fs::path(FLOTILLA_SOURCE_DIR) / "examples/gateway/adapters/sim-mcu", dir / "adapters" / "sim-mcu");
    config["gateway"] = {{"adapters_dir", (dir / "adapters").string()}, {"parallelism", 4}, {"step_timeout", "20s"},
                         {"scan_interval", "1s"}};
    write_text(dir / "agent.json", config.dump());
  }

  void add_child(const std::string& name, const std::string& type, const std::string& bank) {
    auto d = children / name;
    fs::create_directories(d);
    write_text(d / "device_type", type + "\n");
    write_text(d / "bank", bank + "\n");
    if (bank == "ab") {
      write_text(d / "slot_a", firmware("1.0.0"));
      write_text(d / "slot_b", "");
      write_text(d / "active", "a\n");
    } else {
      write_text(d / "slot", firmware("1.0.0"));
    }
  }
  // The version a child's boot ROM runs: the header of its active bank.
  std::string running_version(const std::string& name) {
    auto d = children / name;
    std::string image = fs::exists(d / "slot") ? read_text(d / "slot") : read_text(d / ("slot_" + read_text(d / "active").substr(0, 1)));
    auto at = image.find("version=");
    return at == std::string::npos ? "" : image.substr(at + 8, image.find(' ', at + 8) - at - 8);
  }
  int gateway(const std::string& args = "run --once") {
    return agent(args, "FLOTILLA_SIM_CHILDREN='" + children.string() + "'");
  }
  std::string upload_firmware(const std::string& version, const std::string& type, const signing::PrivateKey* key = nullptr) {
    auto m = testing::child_firmware_manifest(type + "-fw", version, type);
    write_text(dir / "fw.bin", firmware(version, 2));
    auto out = dir / (type + "-" + version + ".flb");
    EXPECT_TRUE(artifacts::write_bundle({m, {{{.name = "fw.bin", .type = artifacts::PayloadType::kRawImage, .slot = "firmware"},
                                              dir / "fw.bin"}}},
                                        {key ? key : &trust.release_key}, out));
    auto response = admin->upload("/api/v1/bundles", out);
    EXPECT_EQ(response->status, 201) << response->body;
    return response->json().value("file_sha256", "");
  }
  common::Json children_of(const std::string& parent) {
    return admin->request("GET", "/api/v1/devices?parent=" + parent + "&limit=100")->json()["devices"];
  }
  common::Json rollout(std::int64_t id) { return admin->request("GET", "/api/v1/rollouts/" + std::to_string(id))->json(); }
  std::int64_t start_rollout(const std::string& policy) {
    auto created = admin->request("POST", "/api/v1/rollouts", policy);
    EXPECT_EQ(created->status, 201) << created->body;
    return created->status == 201 ? created->json()["id"].get<std::int64_t>() : 0;
  }
  // Runs the gateway round after round until `done` or `rounds` ran out.
  bool rounds_until(int rounds, const std::function<bool()>& done) {
    for (int i = 0; i < rounds; ++i) {
      EXPECT_EQ(gateway(), 0) << read_text(dir / "agent.log");
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  }
  // The operator's CLI: its exit code and what it printed (stdout and stderr).
  std::pair<int, std::string> flotilla(const std::string& args) {
    int code = testing::run_shell(std::string(FLOTILLA_CLI) + " --server " + server->url() + " --token-file '" +
                                  (server->data() / "admin.token").string() + "' " + args + " > '" + (dir / "cli.out").string() +
                                  "' 2>&1");
    return {code, read_text(dir / "cli.out")};
  }
  // Bundle downloads the server answered, from its metrics.
  int bundle_downloads() {
    auto text = admin->request("GET", "/metrics")->body;
    int total = 0;
    std::size_t at = 0;
    while ((at = text.find("route=\"/api/v1/device/bundles/{}\"", at)) != std::string::npos) {
      auto line_start = text.rfind('\n', at) + 1;
      auto line_end = text.find('\n', at);
      auto line = text.substr(line_start, line_end - line_start);
      if (line.starts_with("flotilla_http_requests_total") && line.find("method=\"GET\"") != std::string::npos &&
          line.find("status=\"200\"") != std::string::npos) {
        total += std::stoi(line.substr(line.rfind(' ') + 1));
      }
      at = line_end;
    }
    return total;
  }
};

TEST_F(GatewayTest, EnrollsItsChildrenAndReportsThemSignedByItsKey) {
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  auto devices = admin->request("GET", "/api/v1/devices?protocol=flotilla")->json()["devices"];
  ASSERT_EQ(devices.size(), 1u);
  gateway_id = devices[0]["id"];
  EXPECT_TRUE(devices[0]["gateway"].get<bool>());
  auto kids = children_of(gateway_id);
  ASSERT_EQ(kids.size(), 20u) << read_text(dir / "agent.log");
  for (const auto& kid : kids) {
    EXPECT_EQ(kid["protocol"], "child");
    EXPECT_EQ(kid["auth"], "gateway-key");
    EXPECT_EQ(kid["parent"], gateway_id);
    EXPECT_EQ(kid["status"], "accepted");
    EXPECT_FALSE(kid["orphaned"].get<bool>());
  }
  // The child's report is the gateway's signature over its exact bytes.
  auto shown = admin->request("GET", "/api/v1/devices/" + kids[0]["id"].get<std::string>() + "/inventory")->json();
  EXPECT_EQ(shown["signed_by"], gateway_id);
  auto key = signing::PublicKey::from_pem(shown["public_key"].get<std::string>());
  ASSERT_TRUE(key);
  auto signature = common::from_base64(shown["signature"].get<std::string>());
  ASSERT_TRUE(signature);
  EXPECT_TRUE(key->verify_canonical(common::as_bytes(shown["body"].get<std::string>()), *signature));
  EXPECT_EQ(common::Json::parse(shown["body"].get<std::string>())["components"]["firmware"]["version"], "1.0.0");
  // Compliance names the gateway and the kind of evidence (with a bundle
  // published for each type, the rows compare versions).
  upload_firmware("1.0.0", "mcu-a");
  upload_firmware("1.0.0", "mcu-b");
  auto report = admin->request("GET", "/api/v1/compliance?format=json")->json();
  int child_rows = 0;
  for (const auto& row : report["rows"]) {
    if (row["device_type"] != "mcu-a" && row["device_type"] != "mcu-b") continue;
    ++child_rows;
    EXPECT_EQ(row["gateway"], gateway_id);
    EXPECT_EQ(row["evidence"], "gateway-signed (gateway " + gateway_id + ")");
    EXPECT_EQ(row["installed_version"], "1.0.0");
  }
  EXPECT_EQ(child_rows, 20);
  auto metrics = admin->request("GET", "/metrics")->body;
  EXPECT_NE(metrics.find("flotilla_devices_by_protocol{protocol=\"child\"} 20\n"), std::string::npos) << metrics;
  // A device without the gateway right cannot speak for children.
  auto plain = admin->request("PUT", "/api/v1/devices/" + gateway_id + "/gateway", R"({"allowed": false})");
  ASSERT_EQ(plain->status, 200) << plain->body;
  add_child("mcua-99", "mcu-a", "ab");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the scan interval (1s) passes
  ASSERT_EQ(gateway(), 0);
  EXPECT_EQ(children_of(gateway_id).size(), 20u);
  EXPECT_NE(read_text(dir / "agent.log").find("may not speak for children"), std::string::npos);
}

TEST_F(GatewayTest, ARolloutOverOneChildTypeInTwoWavesCompletes) {
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  gateway_id = admin->request("GET", "/api/v1/devices?protocol=flotilla")->json()["devices"][0]["id"];
  upload_firmware("1.1.0", "mcu-a");
  // One child fails to flash: it is failed and counts in the guard.
  write_text(children / "mcua-03" / "fail_install", "");
  // One does not answer for a while: interrupted, then updated.
  write_text(children / "mcua-05" / "offline", "");
  auto id = start_rollout(R"({"name": "mcu-a-1.1.0", "bundle": {"name": "mcu-a-fw", "version": "1.1.0"},
      "target": {"device_types": ["mcu-a"]},
      "waves": [{"name": "canary", "size": "20%", "success_threshold": "50%"}, {"name": "all", "size": "100%"}],
      "failure": {"max_failure_rate": "30%", "min_finished": 5, "action": "pause"}})");
  ASSERT_GT(id, 0);
  int rounds_offline = 0;
  ASSERT_TRUE(rounds_until(60, [&] {
    // The offline child comes back after a few rounds.
    if (fs::exists(children / "mcua-05" / "offline") && ++rounds_offline > 6) fs::remove(children / "mcua-05" / "offline");
    return rollout(id)["state"] == "completed";
  })) << rollout(id).dump() << read_text(dir / "agent.log");
  for (int i = 0; i < 10; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "mcua-%02d", i);
    EXPECT_EQ(running_version(name), i == 3 ? "1.0.0" : "1.1.0") << name;
  }
  for (int i = 10; i < 20; ++i) EXPECT_EQ(running_version("mcub-" + std::to_string(i)), "1.0.0");
  // The bundle crossed the network once, for ten children.
  EXPECT_EQ(bundle_downloads(), 1);
  auto shown = rollout(id);
  auto deployment = admin->request("GET", "/api/v1/deployments/" + std::to_string(shown["deployment_id"].get<std::int64_t>()))->json();
  auto [succeeded, failed] = testing::count_flash_outcomes(deployment);
  EXPECT_EQ(succeeded, 9) << deployment.dump();
  EXPECT_EQ(failed, 1) << deployment.dump();
  // The child that was offline was interrupted on the way, not failed.
  EXPECT_GE(deployment["interruptions"]["devices"].get<int>(), 1) << deployment.dump();
  // Two waves: the canary (20 % of ten) finished before the rest opened.
  const auto& waves = shown["status"]["waves"];
  ASSERT_EQ(waves.size(), 2u) << shown.dump();
  EXPECT_EQ(waves[0]["eligible"], 2) << shown.dump();
  EXPECT_EQ(waves[0]["succeeded"].get<int>() + waves[1]["succeeded"].get<int>(), 9) << shown.dump();
  EXPECT_TRUE(waves[0].contains("completed_at") && waves[1]["complete"].get<bool>()) << shown.dump();
  EXPECT_EQ(shown["status"]["interrupted_devices"], 1) << shown.dump();
  EXPECT_GT(shown["status"]["failure_rate"].get<double>(), 0.0) << "the failed child counts in the guard";
  // Compliance: what the children's firmware holds.
  auto report = admin->request("GET", "/api/v1/compliance?format=json&type=mcu-a")->json();
  for (const auto& row : report["rows"]) {
    auto kid = admin->request("GET", "/api/v1/devices/" + row["device_id"].get<std::string>())->json();
    EXPECT_EQ(row["installed_version"], running_version(kid["child_id"])) << row.dump();
  }
  auto audit = admin->request("GET", "/api/v1/audit/verify");
  EXPECT_EQ(audit->status, 200) << audit->body;
  EXPECT_TRUE(audit->json()["valid"].get<bool>()) << audit->body;
}

TEST_F(GatewayTest, ABundleNotSignedByTheReleaseKeysReachesNoChild) {
  // The gateway trusts another release key than the server does: the
  // server accepts the bundle, the gateway's check refuses it.
  auto other_release = testing::make_key();
  write_text(dir / "gateway-root.json",
             testing::make_root_json({.version = 1, .root_keys = {&trust.root_key}, .release_keys = {&other_release}},
                                     {&trust.root_key}));
  config["trust_root"] = (dir / "gateway-root.json").string();
  write_text(dir / "agent.json", config.dump());
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  upload_firmware("1.1.0", "mcu-a");
  // The adapter leaves a trace of every install it is asked for.
  auto adapter = read_text(dir / "adapters" / "sim-mcu");
  adapter.insert(adapter.find("  install)\n") + 11, "    echo \"$child\" >> \"$root/../installs.log\"\n");
  write_text(dir / "adapters" / "sim-mcu", adapter);
  auto id = start_rollout(R"({"name": "r", "bundle": {"name": "mcu-a-fw", "version": "1.1.0"},
      "target": {"device_types": ["mcu-a"]}, "waves": [{"name": "all", "size": "100%"}],
      "failure": {"max_failure_rate": "100%", "min_finished": 100, "action": "pause"}})");
  ASSERT_TRUE(rounds_until(30, [&] {
    auto deployment = admin->request("GET", "/api/v1/deployments/" + std::to_string(rollout(id)["deployment_id"].get<std::int64_t>()))->json();
    int failed = 0;
    for (const auto& d : deployment["devices"]) failed += d["state"] == "failed";
    return failed == 10;
  })) << read_text(dir / "agent.log");
  EXPECT_FALSE(fs::exists(dir / "installs.log")) << read_text(dir / "installs.log");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(running_version("mcua-0" + std::to_string(i)), "1.0.0");
  EXPECT_NE(read_text(dir / "agent.log").find("passed to no child"), std::string::npos);
}

TEST_F(GatewayTest, AGatewayKilledMidWayResumesTheChildrenNotYetDone) {
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  upload_firmware("1.1.0", "mcu-a");
  // Flashing takes a while: the power goes while children are flashing.
  for (int i = 0; i < 10; ++i) write_text(children / ("mcua-0" + std::to_string(i)) / "install_delay", "2\n");
  auto adapter = read_text(dir / "adapters" / "sim-mcu");
  adapter.insert(adapter.find("  install)\n") + 11, "    echo \"$child\" >> \"$root/../installs.log\"\n");
  write_text(dir / "adapters" / "sim-mcu", adapter);
  auto id = start_rollout(R"({"name": "r", "bundle": {"name": "mcu-a-fw", "version": "1.1.0"},
      "target": {"device_types": ["mcu-a"]}, "waves": [{"name": "all", "size": "100%"}]})");
  ASSERT_GT(id, 0);
  // The gateway as a daemon, killed with SIGKILL once some children are flashing.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("FLOTILLA_SIM_CHILDREN", children.c_str(), 1);
    std::string log = (dir / "agent.log").string();
    std::freopen(log.c_str(), "a", stdout);
    std::freopen(log.c_str(), "a", stderr);
    ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "run", "--config", (dir / "agent.json").c_str(), nullptr);
    ::_exit(127);
  }
  bool flashing = false;
  for (int i = 0; i < 300 && !flashing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    flashing = read_text(dir / "agent.log").find(": installing") != std::string::npos;
  }
  ASSERT_TRUE(flashing) << read_text(dir / "agent.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::set<std::string> done_before;
  for (int i = 0; i < 10; ++i) {
    if (running_version("mcua-0" + std::to_string(i)) == "1.1.0") done_before.insert("mcua-0" + std::to_string(i));
  }
  EXPECT_LT(done_before.size(), 10u) << "the cut came too late to test a resume";
  ASSERT_TRUE(rounds_until(40, [&] { return rollout(id)["state"] == "completed"; })) << read_text(dir / "agent.log");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(running_version("mcua-0" + std::to_string(i)), "1.1.0");
  EXPECT_EQ(bundle_downloads(), 1);
  // Children finished before the cut were not flashed again; the others
  // at most twice (the one cut mid-flash starts over).
  auto installs = read_text(dir / "installs.log");
  for (int i = 0; i < 10; ++i) {
    std::string name = "mcua-0" + std::to_string(i);
    int count = 0;
    for (auto at = installs.find(name + "\n"); at != std::string::npos; at = installs.find(name + "\n", at + 1)) ++count;
    EXPECT_EQ(count, done_before.contains(name) ? 1 : count) << name;
    EXPECT_GE(count, 1) << name;
    EXPECT_LE(count, 2) << name;
  }
  EXPECT_LE(static_cast<int>(installs.size() / std::string("mcua-00\n").size()), 10 + 4) << installs;
}

TEST_F(GatewayTest, ADecommissionedGatewayOrphansItsChildrenAndNothingReparentsThem) {
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  gateway_id = admin->request("GET", "/api/v1/devices?protocol=flotilla")->json()["devices"][0]["id"];
  ASSERT_EQ(admin->request("POST", "/api/v1/devices/" + gateway_id + "/decommission")->status, 200);
  for (const auto& kid : children_of(gateway_id)) EXPECT_TRUE(kid["orphaned"].get<bool>()) << kid.dump();
  // A second gateway that reaches the same children may not take them.
  fs::remove_all(dir / "agent-state");
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  auto gateways = admin->request("GET", "/api/v1/devices?protocol=flotilla&status=accepted")->json()["devices"];
  ASSERT_EQ(gateways.size(), 1u);
  std::string second = gateways[0]["id"];
  EXPECT_TRUE(children_of(second).empty());
  EXPECT_EQ(children_of(gateway_id).size(), 20u);
  EXPECT_NE(read_text(dir / "agent.log").find("flotilla devices move"), std::string::npos);
  // The operator sees it: the children under the old gateway, orphaned.
  auto listed = flotilla("devices list --parent " + gateway_id);
  ASSERT_EQ(listed.first, 0) << listed.second;
  EXPECT_NE(listed.second.find(gateway_id.substr(0, 16) + " ORPHANED"), std::string::npos) << listed.second;
  EXPECT_NE(listed.second.find("child"), std::string::npos) << listed.second;
  // An operator moves one: its gateway reports for it from then on.
  std::string moved = children_of(gateway_id)[0]["id"];
  auto move = flotilla("devices move " + moved + " --gateway " + second);
  ASSERT_EQ(move.first, 0) << move.second;
  EXPECT_NE(move.second.find("now belongs to gateway " + second), std::string::npos) << move.second;
  // Not to a device that is no gateway.
  EXPECT_NE(flotilla("devices move " + moved + " --gateway " + std::string(64, 'a')).first, 0);
  EXPECT_EQ(flotilla("devices gateway " + second).first, 2) << "neither --allow nor --deny is a usage error";
  auto audit = admin->request("GET", "/api/v1/audit?limit=1000")->body;
  EXPECT_NE(audit.find("device.children_orphaned"), std::string::npos);
  EXPECT_NE(audit.find("device.child_claimed"), std::string::npos);
  EXPECT_NE(audit.find("device.move"), std::string::npos);
  ASSERT_EQ(children_of(second).size(), 1u);
  EXPECT_FALSE(children_of(second)[0]["orphaned"].get<bool>());
}

TEST_F(GatewayTest, AChildThatDoesNotBootTheNewImageRollsBackAndAHangingFlashIsInterrupted) {
  config["gateway"]["step_timeout"] = "2s";
  write_text(dir / "agent.json", config.dump());
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  auto bundle = upload_firmware("1.1.0", "mcu-a");
  write_text(children / "mcua-01" / "bad_activate", "");
  write_text(children / "mcua-02" / "install_delay", "30\n");  // longer than the step timeout
  common::Json ids = common::Json::array();
  for (const char* name : {"mcua-00", "mcua-01", "mcua-02"}) ids.push_back(testing::child_id_for("mcu-a", name));
  auto created = admin->request("POST", "/api/v1/deployments", common::Json{{"bundle", bundle}, {"devices", ids}}.dump());
  ASSERT_EQ(created->status, 201) << created->body;
  auto deployment = [&] { return admin->request("GET", "/api/v1/deployments/" + std::to_string(created->json()["id"].get<std::int64_t>()))->json(); };
  auto state_of = [&](const std::string& name) {
    auto shown = deployment();
    for (const auto& d : shown["devices"]) {
      if (d["device_id"] == testing::child_id_for("mcu-a", name)) return d;
    }
    return common::Json();
  };
  int rounds = 0;
  ASSERT_TRUE(rounds_until(40, [&] {
    if (++rounds == 3) fs::remove(children / "mcua-02" / "install_delay");  // the bus answers again
    int final = 0;
    auto shown = deployment();
    for (const auto& d : shown["devices"]) final += d["state"] == "succeeded" || d["state"] == "rolled_back" || d["state"] == "failed";
    return final == 3;
  })) << deployment().dump() << read_text(dir / "agent.log");
  EXPECT_EQ(state_of("mcua-00")["state"], "succeeded");
  auto bad = state_of("mcua-01");
  EXPECT_EQ(bad["state"], "rolled_back") << bad.dump();
  EXPECT_NE(bad["message"].get<std::string>().find("the child runs 1.0.0 after activation, not 1.1.0"), std::string::npos) << bad.dump();
  EXPECT_EQ(running_version("mcua-01"), "1.0.0");
  auto hung = state_of("mcua-02");
  EXPECT_EQ(hung["state"], "succeeded") << hung.dump();
  EXPECT_GE(hung["interruptions"].get<int>(), 1) << hung.dump();
  EXPECT_NE(read_text(dir / "agent.log").find("no answer within 2 s"), std::string::npos);
  EXPECT_EQ(running_version("mcua-02"), "1.1.0");
}

TEST_F(GatewayTest, ChildrenSwitchToTheNewFirmwareOnlyInsideTheActivationWindow) {
  ASSERT_EQ(gateway(), 0) << read_text(dir / "agent.log");
  upload_firmware("1.1.0", "mcu-a");
  // A window three hours from now; windows stop applying at the deadline,
  // 15 s from now.
  auto now = common::now_utc();
  auto start = common::format_rfc3339(now + std::chrono::hours(3)).substr(11, 5);
  auto deadline = common::format_rfc3339(now + std::chrono::seconds(15));
  auto id = start_rollout(R"({"name": "r", "bundle": {"name": "mcu-a-fw", "version": "1.1.0"},
      "target": {"device_types": ["mcu-a"]}, "waves": [{"name": "all", "size": "100%"}],
      "schedule": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": ")" + start +
                          R"(", "duration": "1h", "tz": "UTC"}], "windows_apply_to": "activate"},
      "deadline": ")" + deadline + R"(", "enforce_after_deadline": true})");
  ASSERT_GT(id, 0);
  // Before the deadline: every child is flashed, none switched.
  ASSERT_TRUE(rounds_until(20, [&] {
    int installed = 0;
    for (int i = 0; i < 10; ++i) installed += read_text(children / ("mcua-0" + std::to_string(i)) / "slot_b").find("version=1.1.0") != std::string::npos;
    return installed == 10;
  })) << read_text(dir / "agent.log");
  ASSERT_LT(common::now_utc(), *common::parse_rfc3339(deadline)) << "this machine was too slow to see the hold";
  for (int i = 0; i < 10; ++i) EXPECT_EQ(running_version("mcua-0" + std::to_string(i)), "1.0.0");
  EXPECT_NE(read_text(dir / "agent.log").find("waits for its activation window"), std::string::npos);
  // After it, they switch and the rollout completes.
  ASSERT_TRUE(rounds_until(60, [&] { return rollout(id)["state"] == "completed"; })) << read_text(dir / "agent.log");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(running_version("mcua-0" + std::to_string(i)), "1.1.0");
}

}  // namespace
}  // namespace flotilla
