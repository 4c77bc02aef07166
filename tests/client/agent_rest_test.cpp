// Between polls `flotilla-agent run` rests in flotilla-agent-wait (the same
// pid): the idle daemon maps none of the agent's libraries, and it comes
// back for the next poll by itself — taking an update offered while it
// rested — and stops at once on SIGTERM while resting.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/client/agent_server_fixture.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using namespace std::chrono_literals;

class AgentRestTest : public AgentServerTest {
 protected:
  pid_t pid = -1;

  void SetUp() override {
    AgentServerTest::SetUp();
    // Rests of about 1–2 s, so the test sees the agent come back.
    config["poll_interval"] = {{"min", "1s"}, {"max", "2s"}};
    testing::write_text(dir / "agent.json", config.dump());
  }
  void TearDown() override {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    AgentServerTest::TearDown();
  }
  void start(const char* extra = nullptr) {
    pid = ::fork();
    if (pid == 0) {
      int log = ::open((dir / "agent.log").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      if (extra) {
        ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "run", extra, "--config", (dir / "agent.json").c_str(), nullptr);
      } else {
        ::execl(FLOTILLA_AGENT, FLOTILLA_AGENT, "run", "--config", (dir / "agent.json").c_str(), nullptr);
      }
      ::_exit(127);
    }
  }
  std::string program() const {
    std::error_code error;
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error).filename().string();
  }
  // Waits (bounded) until the enrolled agent rests in the waiter.
  bool resting_after_enrollment() {
    for (int i = 0; i < 300; ++i) {
      auto devices = admin->request("GET", "/api/v1/devices")->json()["devices"];
      if (!devices.empty() && program() == "flotilla-agent-wait") return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  std::string maps() const { return read_text("/proc/" + std::to_string(pid) + "/maps"); }
  // The mappings of the resting waiter: read between two looks that both
  // see the waiter (a rest may end in between; then the next one).
  std::string waiter_maps() {
    for (int i = 0; i < 300; ++i) {
      bool before = program() == "flotilla-agent-wait";
      std::string mapped = maps();
      if (before && program() == "flotilla-agent-wait") return mapped;
      std::this_thread::sleep_for(20ms);
    }
    return "(never caught resting)";
  }
  // The exit status, or -1 when the agent is still running after `limit`.
  int exit_within(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }
};

constexpr const char* kAgentLibraries[] = {"libcurl", "libssl", "libcrypto", "libsqlite3", "libarchive", "libstdc++"};

TEST_F(AgentRestTest, RestsWithoutItsLibrariesAndComesBackForTheNextPoll) {
  start();
  ASSERT_TRUE(resting_after_enrollment()) << read_text(dir / "agent.log");
  auto mapped = waiter_maps();
  ASSERT_NE(mapped.find("libc.so"), std::string::npos) << mapped;
  for (const char* library : kAgentLibraries) EXPECT_EQ(mapped.find(library), std::string::npos) << library << "\n" << mapped;

  // Offered while it rests: the next cycle takes it and asks for the
  // reboot (exit 77, the fixture's reboot mode).
  std::int64_t deployment = deploy(upload_bundle("2.4.0"), only_device());
  ASSERT_GT(deployment, 0);
  ASSERT_EQ(exit_within(60s), 77) << read_text(dir / "agent.log");
  EXPECT_EQ(testing::read_head(dir / "slot-b", 150011), std::string(150000, 'r') + "gw-os-2.4.0");
}

TEST_F(AgentRestTest, SigtermWhileRestingStopsAtOnce) {
  start();
  ASSERT_TRUE(resting_after_enrollment()) << read_text(dir / "agent.log");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(2s), 0) << read_text(dir / "agent.log");
}

// The backoff while the server cannot be reached grows across rests: the
// next cycle's process gets it on its command line from the waiter.
TEST_F(AgentRestTest, TheBackoffGrowsAcrossRests) {
  config["server"]["url"] = "http://127.0.0.1:" + std::to_string(testing::free_port());  // nothing listens
  testing::write_text(dir / "agent.json", config.dump());
  start();
  std::vector<std::string> seen;
  for (int i = 0; i < 400 && seen.size() < 2; ++i) {
    // The waiter's own command line: the same program before and after
    // reading it (an exec may fall in between), its first word the waiter.
    bool resting = program() == "flotilla-agent-wait";
    std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    resting = resting && program() == "flotilla-agent-wait" &&
              cmdline.substr(0, cmdline.find(' ')).ends_with("/flotilla-agent-wait");
    if (resting && (seen.empty() || seen.back() != cmdline)) seen.push_back(cmdline);
    std::this_thread::sleep_for(25ms);
  }
  ASSERT_EQ(seen.size(), 2u) << read_text(dir / "agent.log");
  EXPECT_NE(seen[0].find("--backoff-s 1"), std::string::npos) << seen[0];  // poll_interval.min
  EXPECT_NE(seen[1].find("--backoff-s 2"), std::string::npos) << seen[1];  // doubled, capped at max
}

// The check above can fail: resting in process keeps every library mapped.
TEST_F(AgentRestTest, RestingInProcessKeepsTheLibrariesMapped) {
  start("--rest-in-process");
  for (int i = 0; i < 300 && admin->request("GET", "/api/v1/devices")->json()["devices"].empty(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(program(), "flotilla-agent");
  auto mapped = maps();
  EXPECT_NE(mapped.find("libcurl"), std::string::npos) << mapped;
  EXPECT_NE(mapped.find("libsqlite3"), std::string::npos) << mapped;
  ::kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(5s), 0) << read_text(dir / "agent.log");
}

}  // namespace
}  // namespace flotilla
