// A TCP proxy on loopback that cuts every connection after it forwarded
// `cut_after` bytes towards the client (a flaky network, for resume
// tests) and, optionally, flips the byte at `corrupt_at` of each
// connection's stream towards the client (a hostile network).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace flotilla::testing {

class CuttingProxy {
 public:
  explicit CuttingProxy(std::size_t cut_after, std::size_t corrupt_at = SIZE_MAX);
  ~CuttingProxy();
  // Where clients connect: http://127.0.0.1:PORT.
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The server behind it (set once it listens).
  void set_target(int port) { target_ = port; }
  int connections() const { return connections_; }
  // A slow link: each connection forwards at most `bytes_per_s` towards
  // its client (0: as fast as it can).
  void set_rate_to_clients(std::uint64_t bytes_per_s) { rate_to_clients_ = bytes_per_s; }
  // Bytes forwarded towards clients, over every connection.
  std::uint64_t bytes_to_clients() const { return bytes_to_clients_; }

 private:
  void accept_loop();
  void pump(int client);

  std::size_t cut_after_;
  std::size_t corrupt_at_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> target_{0};
  std::atomic<int> connections_{0};
  std::atomic<std::uint64_t> bytes_to_clients_{0};
  std::atomic<std::uint64_t> rate_to_clients_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> pumps_;
};

}  // namespace flotilla::testing
