// A Unix socket in the data directory (control.sock, mode 0600) through
// which local commands reach the server running on that directory:
// `flotilla-server backup` asks it for an online copy of the store, so a
// backup never stops the server. Who may open the socket may read the data
// directory anyway; its permissions are the authorisation.
//
// One request per connection: a line of text; the answer is lines, the
// last one "ok ..." or "error ...".
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/error.hpp"

namespace flotilla::server::control {

inline constexpr const char* kSocketName = "control.sock";

class ControlSocket {
 public:
  // Sends one line of the answer (the handler adds no newline).
  using Reply = std::function<void(const std::string& line)>;
  using Handler = std::function<void(const std::string& request, const Reply& reply)>;

  // Listens at `path` (an old socket file left by a killed server is
  // replaced; a live one is refused) and serves requests one at a time on
  // a thread of its own.
  static common::Result<std::unique_ptr<ControlSocket>> start(const std::filesystem::path& path, Handler handler);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

 private:
  ControlSocket(std::filesystem::path path, int fd, int stop_read, int stop_write, Handler handler);
  void serve();

  std::filesystem::path path_;
  int fd_;
  int stop_read_, stop_write_;
  Handler handler_;
  std::thread thread_;
};

// Sends `request` to the server listening at `path` and passes each line of
// the answer to `each_line`; returns the final line's text after "ok ".
// kNotFound when nothing listens there (no server runs on the directory).
common::Result<std::string> request(const std::filesystem::path& path, const std::string& request,
                                    const std::function<void(const std::string& line)>& each_line);

}  // namespace flotilla::server::control
