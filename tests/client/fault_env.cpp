#include "tests/client/fault_env.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace flotilla::testing {

void FaultEnv::reboot() {
  reached_.clear();
  runs_ = 0;
}

void FaultEnv::reached(std::string_view point) {
  points_.emplace_back(point);
  int seen = ++reached_[std::string(point)];
  if (cut_point_ && cut_point_->first == point && cut_point_->second == seen) {
    cut_point_.reset();
    throw PowerCut{"after " + std::string(point)};
  }
}

void FaultEnv::downloaded(std::uint64_t offset) {
  furthest_offset_ = std::max(furthest_offset_, offset);
  if (cut_offset_ && offset >= *cut_offset_) {
    cut_offset_.reset();
    throw PowerCut{"at byte " + std::to_string(offset) + " of the download"};
  }
}

void FaultEnv::slot_written(const std::filesystem::path& path, std::uint64_t offset, std::size_t size) {
  std::lock_guard lock(mutex_);
  unsynced_[path].emplace_back(offset, size);
}

void FaultEnv::slot_synced(const std::filesystem::path& path) {
  std::lock_guard lock(mutex_);
  unsynced_.erase(path);
}

void FaultEnv::lose_unsynced_writes() {
  std::lock_guard lock(mutex_);
  for (const auto& [path, ranges] : unsynced_) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    for (auto [offset, size] : ranges) {
      std::string noise(size, '\0');
      for (auto& c : noise) c = static_cast<char>(random_());
      (void)!::pwrite(fd, noise.data(), noise.size(), static_cast<off_t>(offset));
    }
    ::close(fd);
  }
  unsynced_.clear();
}

common::Result<client::ProcessResult> FaultEnv::run(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (++runs_ == fail_run_) {
    fail_run_.reset();
    return common::fail(common::Errc::kIo, "cannot start " + (argv.empty() ? std::string("a program") : argv.front()));
  }
  return Env::run(argv, timeout);
}

}  // namespace flotilla::testing
