#include "server/front/front.hpp"

#include <algorithm>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <unistd.h>

namespace flotilla::server::front {
namespace fs = std::filesystem;

namespace {

// nginx started as root would run its workers as "nobody", who can read
// neither the bundles nor its temporary files under the data directory:
// they run as the server's own user instead (docs/deploy-nginx.md).
std::string worker_user() {
  if (::geteuid() != 0) return "";
  const passwd* user = ::getpwuid(::geteuid());
  const group* grp = ::getgrgid(::getegid());
  if (user == nullptr || grp == nullptr) return "";
  return std::string(user->pw_name) + " " + grp->gr_name;
}

std::string absolute(const std::string& path) { return path.empty() ? path : fs::absolute(path).lexically_normal().string(); }

}  // namespace

FrontSettings front_settings(const FrontOptions& options, const std::string& address, int port, int upstream_port) {
  FrontSettings s;
  s.listen_address = address;
  s.listen_port = port;
  s.tls = options.listen.tls;
  s.tls_cert = absolute(options.tls_cert);
  s.tls_key = absolute(options.tls_key);
  s.tls_client_ca = absolute(options.tls_client_ca);
  s.upstream_port = upstream_port;
  s.bundle_dir = fs::absolute(options.bundle_dir).lexically_normal();
  if (!options.export_dir.empty()) s.export_dir = fs::absolute(options.export_dir).lexically_normal();
  s.prefix = fs::absolute(options.prefix).lexically_normal();
  s.user = worker_user();
  // Each proxied client holds two descriptors (client and upstream).
  rlimit limit{};
  long wanted = 2L * s.limits.worker_connections + 64;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    long hard = limit.rlim_max == RLIM_INFINITY ? wanted : static_cast<long>(limit.rlim_max);
    s.open_files = std::min(wanted, hard);
  }
  return s;
}

common::Result<std::unique_ptr<Front>> Front::start(const FrontOptions& options, int upstream_port,
                                                    const std::string& secret) {
  auto socket = ListenSocket::bind(options.listen.host, options.listen.port);
  if (!socket) return std::unexpected(socket.error());
  auto settings = front_settings(options, socket->address(), socket->port(), upstream_port);
  settings.front_secret = secret;
  std::string url = options.listen.with_port(socket->port());
  std::unique_ptr<Front> front(new Front(std::move(*socket), std::move(url)));
  auto process = FrontProcess::start(kNginxPath, settings.prefix, nginx_config(settings), front->socket_.fd());
  if (!process) return std::unexpected(process.error());
  front->process_ = std::move(*process);
  return front;
}

}  // namespace flotilla::server::front
