// Files removed a while after they were handed to someone else: a report
// nginx sends (X-Accel-Redirect) must outlive the answer that names it
// until nginx has opened it — after that, removing it does not cut the
// transfer (the open descriptor keeps it readable). One thread, woken at
// each deadline; what is still pending when this is destroyed is removed
// then.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

namespace flotilla::server::api {

class LaterRemoval {
 public:
  LaterRemoval() = default;
  LaterRemoval(const LaterRemoval&) = delete;
  LaterRemoval& operator=(const LaterRemoval&) = delete;
  ~LaterRemoval();

  void remove_after(const std::filesystem::path& file, std::chrono::steady_clock::duration delay);
  std::size_t pending();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::multimap<std::chrono::steady_clock::time_point, std::filesystem::path> due_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first file
};

}  // namespace flotilla::server::api
