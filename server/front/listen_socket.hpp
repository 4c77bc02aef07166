// The public listening socket, bound by flotilla-server itself and
// inherited by the front (nginx's NGINX environment variable): port 0 gets
// a free port with no race, and a restarted front takes over the same
// socket, so clients only ever wait in its backlog.
#pragma once

#include <string>
#include <utility>

#include "common/error.hpp"

namespace flotilla::server::front {

// A --listen URL: http:// or https://, a host (a name, an IPv4 address or
// a bracketed IPv6 one), a port (0: a free one), nothing else.
struct ListenUrl {
  bool tls = false;
  std::string host;  // as written, brackets included
  int port = 0;
  std::string with_port(int actual) const { return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(actual); }
};
common::Result<ListenUrl> parse_listen_url(const std::string& url);

class ListenSocket {
 public:
  // Binds HOST:PORT (a name or a numeric address; port 0: a free one).
  static common::Result<ListenSocket> bind(const std::string& host, int port);
  ListenSocket(ListenSocket&& other) noexcept;
  ListenSocket& operator=(ListenSocket&& other) noexcept;
  ListenSocket(const ListenSocket&) = delete;
  ListenSocket& operator=(const ListenSocket&) = delete;
  ~ListenSocket();

  int fd() const { return fd_; }
  int port() const { return port_; }
  // As nginx's `listen` writes it: "127.0.0.1", "[::1]".
  const std::string& address() const { return address_; }

 private:
  ListenSocket(int fd, int port, std::string address) : fd_(fd), port_(port), address_(std::move(address)) {}
  int fd_ = -1;
  int port_ = 0;
  std::string address_;
};

}  // namespace flotilla::server::front
