// A server that does not follow the device protocol (a broken proxy, a
// server of another version, something in between) cannot crash the
// agent: an answer whose members have the wrong types ends the cycle
// with a named error, nothing installed, and the next cycle tries again.
// The "server" is a loopback responder scripted by the test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "tests/client/agent_fixture.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::write_text;

// Answers each HTTP request (one per connection) with what `answer`
// returns for its method and path.
class ScriptedServer {
 public:
  using Answer = std::function<std::pair<int, std::string>(const std::string& request_line)>;
  explicit ScriptedServer(Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(listener_, 16);
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void loop() {
    while (!stopping_) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      std::string request;
      char buffer[4096];
      // Headers, then as much body as Content-Length says.
      std::size_t body_at = std::string::npos, wanted = 0;
      while (body_at == std::string::npos || request.size() < body_at + wanted) {
        auto n = ::read(client, buffer, sizeof(buffer));
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
        if (body_at == std::string::npos && (body_at = request.find("\r\n\r\n")) != std::string::npos) {
          body_at += 4;
          auto at = request.find("Content-Length: ");
          if (at != std::string::npos && at < body_at) wanted = std::stoul(request.substr(at + 16));
        }
      }
      std::string line = request.substr(0, request.find("\r\n"));
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(line);
      }
      auto [status, body] = answer_(line);
      std::string response = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      if (::write(client, response.data(), response.size()) < 0) ADD_FAILURE() << "cannot answer the agent";
      ::close(client);
    }
  }

  Answer answer_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

class HostileServerTest : public testing::AgentTest {};

TEST_F(HostileServerTest, AnswersOutsideTheProtocolEndTheCycleNotTheAgent) {
  // Each poll answer breaks the protocol in another member.
  const std::vector<std::string> polls = {
      R"({"poll_interval_s": 60, "inventory_required": "yes"})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": "7", "bundle": {"url": "http://127.0.0.1:1/x"}}})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": 7, "bundle": {"url": "http://127.0.0.1:1/x", "size": "big"}}})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": 7, "allow_downgrade": "no", "bundle": {"url": "http://127.0.0.1:1/x"}}})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": 7, "bundle": {"url": "http://127.0.0.1:1/x", "file_sha256": 5}}})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": 7, "bundle": "http://127.0.0.1:1/x"}})",
      R"({"poll_interval_s": 60, "inventory_required": false, "update": {"deployment_id": 7, "bundle": {"url": 5}}})",
      R"([1, 2, 3])",
      R"({"poll_interval_s": "often", "root_version": "latest", "inventory_required": false})"};
  std::atomic<std::size_t> poll{0};
  ScriptedServer server([&](const std::string& line) -> std::pair<int, std::string> {
    if (line.find("/api/v1/device/auth") != std::string::npos) return {200, R"({"token": "t-1", "poll_interval_s": 60})"};
    if (line.find("/api/v1/device/poll") != std::string::npos) return {200, polls[poll++ % polls.size()]};
    if (line.find("/api/v1/device/inventory") != std::string::npos) return {200, R"({"accepted": true, "counter": 1, "digest": "d"})"};
    return {404, "{}"};
  });
  write_text(dir / "enroll.token", "token\n");
  config["server"] = {{"url", server.url()}};
  config["enrollment_token_file"] = (dir / "enroll.token").string();
  config["reboot"] = {{"mode", "exit"}, {"exit_code", 77}};
  write_config();
  for (std::size_t i = 0; i < polls.size(); ++i) {
    auto run = agent("run --once");
    // 1: this cycle failed and says why; never a signal (134 abort, 139 segfault).
    EXPECT_TRUE(run.code == 0 || run.code == 1) << polls[i] << ": exit " << run.code << "\n" << run.err;
    if (run.code == 1) {
      EXPECT_NE(run.err.find("server"), std::string::npos) << polls[i] << "\n" << run.err;
    }
  }
  EXPECT_EQ(poll.load(), polls.size());
  // Nothing was installed or armed, and the agent still answers.
  auto shown = status();
  EXPECT_EQ(shown["booted_slot"], "a");
  EXPECT_EQ(shown["components"]["rootfs"]["version"], "2.3.0");
  EXPECT_EQ(read_text(dir / "slot-a"), slot_a_before);
}

}  // namespace
}  // namespace flotilla
