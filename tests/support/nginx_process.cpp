#include "tests/support/nginx_process.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/support/fixtures.hpp"

namespace flotilla::testing {

std::string loopback_site(const std::string& example, int listen_port,
                          const std::vector<std::pair<std::string, std::string>>& replacements) {
  std::istringstream lines(read_text(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "examples/nginx" / example));
  std::string site, line;
  while (std::getline(lines, line)) {
    if (line.find("ssl_") != std::string::npos && line.find('#') == std::string::npos) continue;
    if (line.find("listen 443") != std::string::npos) line = "    listen 127.0.0.1:" + std::to_string(listen_port) + ";";
    site += line + "\n";
  }
  for (const auto& [pattern, text] : replacements) site = std::regex_replace(site, std::regex(pattern), text);
  return site;
}

NginxProcess::NginxProcess(const std::filesystem::path& prefix, const std::string& site, int port)
    : prefix_(prefix), port_(port) {
  if (!std::filesystem::exists(kNginx)) throw std::runtime_error("nginx is missing: scripts/setup installs it");
  std::filesystem::create_directories(prefix_ / "tmp");
  write_text(prefix_ / "site.conf", site);
  // Access lines carry the Authorization header's presence: tests check
  // what a mirror was (not) sent.
  write_text(prefix_ / "nginx.conf",
             std::string(::geteuid() == 0 ? "user root root;\n" : "") + "worker_processes 1;\npid " +
                 (prefix_ / "nginx.pid").string() + ";\nerror_log " + (prefix_ / "error.log").string() +
                 ";\nevents { worker_connections 256; }\nhttp {\n  include /etc/nginx/mime.types;\n"
                 "  log_format flotilla '$request $status $body_bytes_sent auth=$http_authorization upstream=$upstream_addr';\n"
                 "  access_log " + (prefix_ / "access.log").string() + " flotilla;\n  client_body_temp_path " +
                 (prefix_ / "tmp").string() + ";\n  proxy_temp_path " + (prefix_ / "tmp").string() + ";\n  include " +
                 (prefix_ / "site.conf").string() + ";\n}\n");
  pid_ = ::fork();
  if (pid_ == 0) {
    std::string p = prefix_.string(), c = (prefix_ / "nginx.conf").string();
    ::execl(kNginx, kNginx, "-p", p.c_str(), "-c", c.c_str(), "-g", "daemon off;", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 100; ++i) {
    if (accepts_connections(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) break;  // it exited: a bad config
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string errors = read_text(prefix_ / "error.log");
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  throw std::runtime_error("nginx did not come up: " + errors);
}

NginxProcess::~NginxProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace flotilla::testing
