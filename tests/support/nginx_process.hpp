// A real nginx for tests, on loopback, in a directory of the test's own:
// the front of the server (examples/nginx/*.conf made runnable), a static
// mirror of bundle files, a load balancer over several servers. Every
// wait has a deadline.
#pragma once

#include <filesystem>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "tests/support/fixtures.hpp"  // free_port

namespace flotilla::testing {

inline constexpr const char* kNginx = "/usr/sbin/nginx";

// A shipped examples/nginx/ config (`example` is its file name) made
// runnable on loopback without TLS: its TLS lines dropped, `listen 443`
// moved to `listen_port`, then each (regular expression, text) applied.
std::string loopback_site(const std::string& example, int listen_port,
                          const std::vector<std::pair<std::string, std::string>>& replacements);

class NginxProcess {
 public:
  // Writes nginx.conf under `prefix` around `site` (server and upstream
  // blocks), starts nginx and waits until `port` accepts connections.
  // Throws std::runtime_error (with nginx's error log) when it does not.
  NginxProcess(const std::filesystem::path& prefix, const std::string& site, int port);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::filesystem::path access_log() const { return prefix_ / "access.log"; }
  std::filesystem::path error_log() const { return prefix_ / "error.log"; }

 private:
  std::filesystem::path prefix_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace flotilla::testing
