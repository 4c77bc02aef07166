// The server's front as `serve` runs it: the public socket, the generated
// configuration and the supervised nginx together.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "server/front/front_process.hpp"
#include "server/front/listen_socket.hpp"
#include "server/front/nginx_config.hpp"

namespace flotilla::server::front {

struct FrontOptions {
  ListenUrl listen;
  std::string tls_cert, tls_key, tls_client_ca;  // as given; made absolute here
  std::filesystem::path bundle_dir;
  std::filesystem::path export_dir;  // DATA/exports
  std::filesystem::path prefix;  // DATA/front
};

// The settings for `options`, the front listening on address:port and
// passing requests to 127.0.0.1:upstream_port. Adds the worker user when
// running as root and the open-file limit the connection caps need.
FrontSettings front_settings(const FrontOptions& options, const std::string& address, int port, int upstream_port);

class Front {
 public:
  // Binds the public socket, writes and checks the configuration, starts
  // nginx on it. `secret` goes with every request to the upstream.
  static common::Result<std::unique_ptr<Front>> start(const FrontOptions& options, int upstream_port,
                                                      const std::string& secret);
  // What clients use: the scheme and host of --listen, the bound port.
  const std::string& url() const { return url_; }
  const FrontProcess& process() const { return *process_; }
  void stop() { process_->stop(); }

 private:
  Front(ListenSocket socket, std::string url) : socket_(std::move(socket)), url_(std::move(url)) {}
  ListenSocket socket_;
  std::string url_;
  std::unique_ptr<FrontProcess> process_;
};

}  // namespace flotilla::server::front
