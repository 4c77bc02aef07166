// A raw TCP connection for tests that speak HTTP badly on purpose (slow,
// oversized, half-sent): what a hostile client does, byte by byte. Every
// wait has a deadline.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace flotilla::testing {

class RawConnection {
 public:
  // Connects to 127.0.0.1:port from `source`, another loopback address
  // standing for another client. `receive_buffer` > 0 shrinks the socket's
  // receive buffer (a slow reader). Throws std::runtime_error on failure.
  explicit RawConnection(int port, const std::string& source = "127.0.0.1", int receive_buffer = 0);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends all of `bytes` within `timeout`; false when the peer closed,
  // reset, or did not take them in time.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // What arrives until the peer closes or `timeout` passes.
  std::string read_until_closed(std::chrono::milliseconds timeout);
  // The status of the first response line, 0 when none came in time.
  int status(std::chrono::milliseconds timeout);
  // Whether the peer closed (or reset) the connection within `timeout`;
  // anything it sent first is read and dropped.
  bool closed_by_peer(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string received_;
};

}  // namespace flotilla::testing
