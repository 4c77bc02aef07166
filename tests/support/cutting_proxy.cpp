#include "tests/support/cutting_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace flotilla::testing {

CuttingProxy::CuttingProxy(std::size_t cut_after, std::size_t corrupt_at) : cut_after_(cut_after), corrupt_at_(corrupt_at) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cutting proxy: cannot listen");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { accept_loop(); });
}

CuttingProxy::~CuttingProxy() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& t : pumps_) t.join();
  ::close(listener_);
}

void CuttingProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++connections_;
    pumps_.emplace_back([this, client] { pump(client); });
  }
}

void CuttingProxy::pump(int client) {
  int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(target_.load()));
  if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(server);
    ::close(client);
    return;
  }
  std::size_t sent_to_client = 0;
  auto started = std::chrono::steady_clock::now();
  char buffer[8192];
  for (bool open = true; open && !stopping_;) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = fds[i].fd, to = i == 0 ? server : client;
      std::size_t want = sizeof buffer;
      if (i == 1) want = std::min(want, cut_after_ - sent_to_client);
      ssize_t n = ::read(from, buffer, want);
      if (i == 1 && n > 0 && corrupt_at_ >= sent_to_client && corrupt_at_ < sent_to_client + static_cast<std::size_t>(n)) {
        buffer[corrupt_at_ - sent_to_client] ^= 0x01;
      }
      // MSG_NOSIGNAL: a client killed mid-transfer (a power-cut test)
      // must end this connection, not the test process with SIGPIPE.
      if (n <= 0 || ::send(to, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) {
        open = false;
        break;
      }
      if (i == 1) {
        sent_to_client += static_cast<std::size_t>(n);
        bytes_to_clients_ += static_cast<std::uint64_t>(n);
        // A slow link: the next bytes leave when this connection's rate allows.
        if (std::uint64_t rate = rate_to_clients_; rate > 0) {
          std::this_thread::sleep_until(started + std::chrono::microseconds(sent_to_client * 1000000 / rate));
        }
        if (sent_to_client >= cut_after_) open = false;  // the cut
      }
    }
  }
  ::close(server);
  ::close(client);
}

}  // namespace flotilla::testing
