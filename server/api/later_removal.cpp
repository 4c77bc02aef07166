#include "server/api/later_removal.hpp"

namespace flotilla::server::api {

LaterRemoval::~LaterRemoval() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  for (const auto& [when, file] : due_) std::filesystem::remove(file, ec);
}

void LaterRemoval::remove_after(const std::filesystem::path& file, std::chrono::steady_clock::duration delay) {
  std::lock_guard lock(mutex_);
  due_.emplace(std::chrono::steady_clock::now() + delay, file);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  changed_.notify_all();
}

std::size_t LaterRemoval::pending() {
  std::lock_guard lock(mutex_);
  return due_.size();
}

void LaterRemoval::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (due_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto next = due_.begin()->first;
    if (std::chrono::steady_clock::now() < next) {
      changed_.wait_until(lock, next);
      continue;
    }
    auto file = due_.begin()->second;
    due_.erase(due_.begin());
    lock.unlock();
    std::error_code ec;
    std::filesystem::remove(file, ec);
    lock.lock();
  }
}

}  // namespace flotilla::server::api
