// The front as a supervised child of flotilla-server: nginx started on the
// server's own listening socket, its error log in the server's log,
// restarted when it dies, stopped with the server. A front that goes
// away with its server (SIGKILL included) never keeps the port.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>

#include "common/error.hpp"

namespace flotilla::server::front {

inline constexpr const char* kNginxPath = "/usr/sbin/nginx";

// `nginx -t` of a configuration: ok, or nginx's own words.
common::Status check_config(const std::filesystem::path& nginx, const std::filesystem::path& config,
                            const std::filesystem::path& prefix);

class FrontProcess {
 public:
  // Writes `config` to PREFIX/nginx.conf (0600: it holds the front's
  // secret), checks it with `nginx -t`, and starts nginx on `listen_fd`.
  // Returns once nginx has written its pid file.
  static common::Result<std::unique_ptr<FrontProcess>> start(const std::filesystem::path& nginx,
                                                             const std::filesystem::path& prefix,
                                                             const std::string& config, int listen_fd);
  ~FrontProcess();
  FrontProcess(const FrontProcess&) = delete;
  FrontProcess& operator=(const FrontProcess&) = delete;

  // Graceful stop (requests in progress finish, within a bound), then the
  // whole process group. Idempotent.
  void stop();
  pid_t pid() const { return pid_.load(); }
  int restarts() const { return restarts_.load(); }

 private:
  FrontProcess(std::filesystem::path nginx, std::filesystem::path prefix, int listen_fd);
  common::Status spawn();
  void supervise();
  void forward_log(int fd);

  std::filesystem::path nginx_, prefix_;
  int listen_fd_;
  std::atomic<pid_t> pid_{-1};
  std::atomic<int> restarts_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread supervisor_;
  std::thread log_reader_;
};

}  // namespace flotilla::server::front
