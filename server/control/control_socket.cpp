#include "server/control/control_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace flotilla::server::control {
namespace {

using common::Errc;

constexpr std::size_t kMaxRequest = 4096;
constexpr int kRequestTimeoutMs = 5000;

common::Result<sockaddr_un> address_of(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof address.sun_path) {
    return common::fail(Errc::kBadField, "the control socket path " + text + " is too long for a Unix socket (at most " +
                                             std::to_string(sizeof address.sun_path - 1) + " bytes)");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// One line (without its newline), read with a deadline; empty on failure.
std::string read_request(int fd) {
  std::string line;
  char buffer[512];
  while (line.size() < kMaxRequest) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kRequestTimeoutMs) <= 0) return {};
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    line.append(buffer, static_cast<std::size_t>(n));
    if (auto end = line.find('\n'); end != std::string::npos) return line.substr(0, end);
  }
  return {};
}

}  // namespace

common::Result<std::unique_ptr<ControlSocket>> ControlSocket::start(const std::filesystem::path& path, Handler handler) {
  auto address = address_of(path);
  if (!address) return std::unexpected(address.error());
  // A socket file that answers belongs to a server still running here.
  if (std::filesystem::exists(path)) {
    auto probe = control::request(path, "ping", nullptr);
    if (probe || !probe.error().is(Errc::kNotFound)) {
      return common::fail(Errc::kConflict, "another server runs on this data directory (it answers at " + path.string() + ")");
    }
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::fail(Errc::kIo, std::string("control socket: ") + std::strerror(errno));
  // Created 0600 from the start: no moment in which others could connect.
  mode_t old_mask = ::umask(0177);
  int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof *address);
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd, 8) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return common::fail(Errc::kIo, "cannot listen on " + path.string() + ": " + why);
  }
  int stop[2];
  if (::pipe2(stop, O_CLOEXEC) != 0) {
    ::close(fd);
    return common::fail(Errc::kIo, std::string("control socket: ") + std::strerror(errno));
  }
  std::unique_ptr<ControlSocket> socket(new ControlSocket(path, fd, stop[0], stop[1], std::move(handler)));
  socket->thread_ = std::thread([raw = socket.get()] { raw->serve(); });
  return socket;
}

ControlSocket::ControlSocket(std::filesystem::path path, int fd, int stop_read, int stop_write, Handler handler)
    : path_(std::move(path)), fd_(fd), stop_read_(stop_read), stop_write_(stop_write), handler_(std::move(handler)) {}

ControlSocket::~ControlSocket() {
  (void)!::write(stop_write_, "x", 1);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  ::close(stop_read_);
  ::close(stop_write_);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void ControlSocket::serve() {
  for (;;) {
    pollfd waits[2] = {{fd_, POLLIN, 0}, {stop_read_, POLLIN, 0}};
    if (::poll(waits, 2, -1) < 0) {
      if (errno == EINTR) continue;
      common::log(common::LogLevel::kError, std::string("control socket: ") + std::strerror(errno));
      return;
    }
    if (waits[1].revents != 0) return;
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::string line = read_request(client);
    if (line == "ping") {
      write_all(client, "ok\n");
    } else if (!line.empty()) {
      handler_(line, [client](const std::string& answer) { write_all(client, answer + "\n"); });
    }
    ::close(client);
  }
}

common::Result<std::string> request(const std::filesystem::path& path, const std::string& text,
                                    const std::function<void(const std::string& line)>& each_line) {
  auto address = address_of(path);
  if (!address) return std::unexpected(address.error());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::fail(Errc::kIo, std::string("control socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) {
    int error = errno;
    ::close(fd);
    if (error == ENOENT || error == ECONNREFUSED) return common::fail(Errc::kNotFound, "no server answers at " + path.string());
    return common::fail(Errc::kIo, "cannot reach the server at " + path.string() + ": " + std::strerror(error));
  }
  if (!write_all(fd, text + "\n")) {
    ::close(fd);
    return common::fail(Errc::kIo, "cannot send the request to " + path.string());
  }
  std::string pending;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      std::string line = pending.substr(0, end);
      pending.erase(0, end + 1);
      if (line == "ok" || line.starts_with("ok ")) {
        ::close(fd);
        return line.size() > 3 ? line.substr(3) : std::string();
      }
      if (line.starts_with("error ")) {
        ::close(fd);
        return common::fail(Errc::kIo, "the server: " + line.substr(6));
      }
      if (each_line) each_line(line);
    }
  }
  ::close(fd);
  return common::fail(Errc::kIo, "the server at " + path.string() + " closed the connection without an answer");
}

}  // namespace flotilla::server::control
