// Scale-out, end to end (docs/scale-out.md): two flotilla-servers on one
// PostgreSQL database and one bundle directory, behind a real nginx
// configured from the shipped examples/nginx/flotilla-scale-out.conf. A
// simulated fleet runs a rollout through nginx; the server running the
// scheduler is SIGKILLed mid-rollout. The other takes the scheduler over,
// the rollout completes, no device is offered twice, every event a device
// had acknowledged is still there, and the audit chain verifies.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <map>
#include <thread>

#include "tests/e2e/fleet_fixture.hpp"
#include "tests/support/nginx_process.hpp"

namespace flotilla {
namespace {

using namespace std::chrono_literals;
using testing::finished;
using testing::policy_for;
using testing::read_text;
using testing::Sim;

std::string port_of(const std::string& url) { return url.substr(url.rfind(':') + 1); }

// "running", "standby", or "" for a server that does not answer.
std::string scheduler_role(const std::string& url) {
  auto health = cli::ApiClient(url, "").request("GET", "/healthz");
  if (!health || !health->ok()) return "";
  return health->json().value("scheduler", "");
}

class ScaleOutTest : public testing::FleetTest {
 protected:
  int front_port = testing::free_port();
  std::unique_ptr<testing::ServerProcess> second;
  std::unique_ptr<testing::NginxProcess> nginx;

  std::vector<std::string> serve_args() const override {
    return {"--scheduler-interval", "1", "--bundle-dir", (dir / "bundles").string(), "--public-url",
            "http://127.0.0.1:" + std::to_string(front_port), "--front", "none", "--accel-redirect", "/_flotilla_bundles/"};
  }
  std::string api_url() const override { return nginx->url(); }

  void SetUp() override {
    FLOTILLA_REQUIRE_POSTGRES();
    // The first server initialises a database of its own on the test
    // cluster; the second joins it as docs/scale-out.md says: a data
    // directory with the fleet's report key, the same --store.
    ::setenv("FLOTILLA_TEST_STORE", "postgres", 1);
    std::filesystem::create_directories(dir / "bundles");
    FleetTest::SetUp();
    std::filesystem::create_directories(dir / "second");
    for (const char* file : {"report.key", "report.pub"}) {
      std::filesystem::copy_file(dir / "data" / file, dir / "second" / file);
    }
    second = std::make_unique<testing::ServerProcess>(FLOTILLA_SERVER, dir / "second", "", server->store_location());
    second->start(serve_args());
    server->keep_port();
    second->keep_port();
    auto site = testing::loopback_site("flotilla-scale-out.conf", front_port,
                                       {{"127\\.0\\.0\\.1:8080", "127.0.0.1:" + port_of(server->url())},
                                        {"127\\.0\\.0\\.1:8081", "127.0.0.1:" + port_of(second->url())},
                                        {"/srv/flotilla/bundles", (dir / "bundles").string()}});
    nginx = std::make_unique<testing::NginxProcess>(dir / "nginx", site, front_port);
  }

  // Every audit entry, oldest first, through the front.
  std::vector<common::Json> audit_entries() {
    std::vector<common::Json> all;
    for (std::int64_t after = 0;;) {
      auto page = admin_client().request("GET", "/api/v1/audit?limit=1000&after=" + std::to_string(after));
      if (!page || !page->ok()) {
        ADD_FAILURE() << "audit list failed";
        return all;
      }
      auto entries = page->json()["entries"];
      if (entries.empty()) return all;
      for (auto& e : entries) {
        after = e["seq"];
        all.push_back(std::move(e));
      }
    }
  }
};

TEST_F(ScaleOutTest, SchedulerServerKilledMidRolloutTheOtherFinishesItAndNothingIsLost) {
  upload_bundle("2.4.0");
  constexpr int kDevices = 40;
  Sim sim(dir.path(), start_fleet_args(kDevices, "--net-cut 0.1 --seed 5"));
  wait_for_enrollment(kDevices);

  // Exactly one scheduler at any moment: sampled all along.
  std::atomic<bool> sampling = true;
  std::atomic<int> both_running = 0, samples = 0;
  std::thread sampler([&, first = server->url(), other = second->url()] {
    while (sampling) {
      if (scheduler_role(first) == "running" && scheduler_role(other) == "running") ++both_running;
      ++samples;
      std::this_thread::sleep_for(200ms);
    }
  });

  auto id = create_rollout(policy_for("2.4.0", "20%"));
  auto before_kill = wait_for_rollout(id, [](const common::Json& v) {
    return v.value(common::Json::json_pointer("/status/waves/0/succeeded"), std::int64_t{0}) > 0;
  });
  // Mid-rollout: the later wave is still to be offered, by whoever
  // schedules after the kill.
  ASSERT_EQ(before_kill["state"], "running") << before_kill.dump();
  ASSERT_LT(before_kill["status"]["waves"][0]["succeeded"].get<int>(), kDevices) << before_kill.dump();
  bool first_leads = scheduler_role(server->url()) == "running";
  auto& leader = first_leads ? server : second;
  auto& survivor = first_leads ? second : server;
  ASSERT_EQ(scheduler_role(leader->url()), "running");
  leader->kill9();
  std::string role;
  for (int i = 0; i < 50 && role != "running"; ++i) {
    std::this_thread::sleep_for(200ms);
    role = scheduler_role(survivor->url());
  }
  EXPECT_EQ(role, "running") << "the scheduler was not taken over within 10 s: " << survivor->log();

  auto view = wait_for_rollout(id, finished, 180s);
  EXPECT_EQ(view["state"], "completed") << view.dump();
  // The killed server comes back as a standby: the lease stays put.
  leader->start(serve_args());
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(scheduler_role(leader->url()), "standby");
  sampling = false;
  sampler.join();
  EXPECT_EQ(both_running, 0) << "two schedulers at once in " << both_running << " of " << samples << " samples";

  // Every device updated once, its events whole: 1..n, the last succeeded.
  auto deployment_id = view["deployment_id"].dump();
  auto deployment = admin_client().request("GET", "/api/v1/deployments/" + deployment_id)->json();
  ASSERT_EQ(deployment["devices"].size(), static_cast<std::size_t>(kDevices)) << deployment.dump();
  for (const auto& d : deployment["devices"]) {
    EXPECT_EQ(d["state"], "succeeded") << d.dump();
    std::string device = d["device_id"];
    auto events = admin_client().request("GET", "/api/v1/deployments/" + deployment_id + "/devices/" + device + "/events")
                      ->json()["events"];
    ASSERT_FALSE(events.empty()) << device;
    for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["seq"], i + 1) << device << ": " << events.dump();
    EXPECT_EQ(events.back()["state"], "succeeded") << device << ": " << events.dump();
  }
  auto summary = sim.finish();
  EXPECT_EQ(summary["by_version"]["2.4.0"], kDevices) << summary.dump() << sim.errors();

  // No device offered twice: one scheduler offer, at most one poll's mark.
  std::map<std::string, int> offered_by_scheduler, marked_by_poll;
  for (const auto& entry : audit_entries()) {
    auto* counts = entry["action"] == "rollout.device.offered" ? &offered_by_scheduler
                   : entry["action"] == "deployment.offered"   ? &marked_by_poll
                                                               : nullptr;
    if (counts == nullptr) continue;
    for (const auto& device : entry["details"]["devices"]) ++(*counts)[device.get<std::string>()];
  }
  EXPECT_EQ(offered_by_scheduler.size(), static_cast<std::size_t>(kDevices));
  for (const auto& [device, times] : offered_by_scheduler) EXPECT_EQ(times, 1) << device;
  for (const auto& [device, times] : marked_by_poll) EXPECT_EQ(times, 1) << device;

  auto audit = admin_client().request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true) << audit.dump();
  // nginx really spread the fleet over both servers.
  auto log = read_text(nginx->access_log());
  EXPECT_NE(log.find("upstream=127.0.0.1:" + port_of(server->url())), std::string::npos);
  EXPECT_NE(log.find("upstream=127.0.0.1:" + port_of(second->url())), std::string::npos);
}

// The database goes away for a while: each server answers 503 with
// Retry-After (nothing the client sent was wrong) and keeps running; as
// soon as it is back they serve again, through nginx too, and one of them
// runs the scheduler again.
TEST_F(ScaleOutTest, ADatabaseOutageIsAnswered503AndTheServersRecoverWhenItReturns) {
  const auto token = server->admin_token();
  auto headers_of = [&](const std::string& url) {
    auto file = dir / "outage.headers";
    std::filesystem::remove(file);
    testing::run_shell("curl -s -o /dev/null -D '" + file.string() + "' -H 'Authorization: Bearer " + token + "' '" + url +
                       "/api/v1/devices'");
    return std::filesystem::exists(file) ? read_text(file) : std::string();
  };
  auto status_of = [&](const std::string& url) {
    auto text = headers_of(url);
    return text.size() > 12 ? text.substr(9, 3) : std::string("none");
  };
  const std::vector<std::string> urls = {server->url(), second->url(), nginx->url()};
  for (const auto& url : urls) ASSERT_EQ(status_of(url), "200") << url;

  server->database()->set_reachable(false);
  for (const auto& url : urls) {
    auto text = headers_of(url);
    EXPECT_NE(text.find(" 503 "), std::string::npos) << url << "\n" << text;
    EXPECT_NE(text.find("Retry-After: 5"), std::string::npos) << url << "\n" << text;
  }
  EXPECT_NE(scheduler_role(server->url()), "");  // alive, and saying so
  EXPECT_NE(scheduler_role(second->url()), "");

  server->database()->set_reachable(true);
  for (const auto& url : urls) {
    std::string status;
    for (int i = 0; i < 50 && status != "200"; ++i) {
      if (i > 0) std::this_thread::sleep_for(200ms);
      status = status_of(url);
    }
    EXPECT_EQ(status, "200") << url << " did not recover within 10 s";
  }
  int running = 0;
  for (int i = 0; i < 50 && running == 0; ++i) {
    std::this_thread::sleep_for(200ms);
    running = (scheduler_role(server->url()) == "running") + (scheduler_role(second->url()) == "running");
  }
  EXPECT_EQ(running, 1) << server->log() << second->log();
  auto audit = admin_client().request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(audit["valid"], true) << audit.dump();
}

}  // namespace
}  // namespace flotilla
