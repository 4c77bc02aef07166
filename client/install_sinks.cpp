#include "client/install_sinks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flotilla::client {

namespace {

namespace fs = std::filesystem;

common::Status write_all(int fd, std::span<const std::uint8_t> bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return common::fail(common::Errc::kIo, "cannot write " + path + ": " + std::strerror(errno));
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

common::Status sync_fd(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return common::fail(common::Errc::kIo, "cannot sync " + path + ": " + std::strerror(errno));
  return {};
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// A raw image into a slot: a block device is written in place, a file
// slot (simulation, tests) is truncated first. The slot is inactive, so a
// partial write harms nothing: the bootloader is switched only later.
class SlotSink final : public artifacts::PayloadSink {
 public:
  static common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const fs::path& path) {
    struct stat st {};
    bool block = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (block ? 0 : O_CREAT | O_TRUNC), 0600);
    if (fd < 0) return common::fail(common::Errc::kIo, "cannot open slot " + path.string() + ": " + std::strerror(errno));
    return std::unique_ptr<artifacts::PayloadSink>(new SlotSink(fd, path.string()));
  }
  ~SlotSink() override { close(); }
  common::Status write(std::span<const std::uint8_t> bytes) override { return write_all(fd_, bytes, path_); }
  common::Status finish() override { return sync_fd(fd_, path_); }
  common::Status commit() override {
    close();
    return {};
  }
  void abort() override { close(); }

 private:
  SlotSink(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_;
  std::string path_;
};

// A file: staged next to its destination, renamed over it at commit; the
// old file is kept as a backup until the update is committed.
class FileSink final : public artifacts::PayloadSink {
 public:
  static common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const artifacts::Payload& payload,
                                                                      std::vector<std::string>& files) {
    fs::path dest = payload.path;
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    fs::path temp = dest.parent_path() / (".flotilla-tmp-" + dest.filename().string());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(payload.mode));
    if (fd < 0) return common::fail(common::Errc::kIo, "cannot create " + temp.string() + ": " + std::strerror(errno));
    return std::unique_ptr<artifacts::PayloadSink>(new FileSink(fd, temp, dest, payload.mode, files));
  }
  ~FileSink() override { abort(); }
  common::Status write(std::span<const std::uint8_t> bytes) override { return write_all(fd_, bytes, temp_.string()); }
  common::Status finish() override {
    if (::fchmod(fd_, static_cast<mode_t>(mode_)) != 0) {
      return common::fail(common::Errc::kIo, "cannot set the mode of " + temp_.string());
    }
    return sync_fd(fd_, temp_.string());
  }
  common::Status commit() override {
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::path backup = dest_.string() + std::string(kBackupSuffix);
    if (fs::exists(dest_) && !fs::exists(backup)) {
      fs::rename(dest_, backup, ec);
      if (ec) return common::fail(common::Errc::kIo, "cannot keep " + dest_.string() + " for rollback: " + ec.message());
    }
    fs::rename(temp_, dest_, ec);
    if (ec) return common::fail(common::Errc::kIo, "cannot install " + dest_.string() + ": " + ec.message());
    sync_dir(dest_.parent_path());
    files_.push_back(dest_.string());
    committed_ = true;
    return {};
  }
  void abort() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!committed_) {
      std::error_code ec;
      fs::remove(temp_, ec);
    }
  }

 private:
  FileSink(int fd, fs::path temp, fs::path dest, std::uint32_t mode, std::vector<std::string>& files)
      : fd_(fd), temp_(std::move(temp)), dest_(std::move(dest)), mode_(mode), files_(files) {}
  int fd_;
  fs::path temp_, dest_;
  std::uint32_t mode_;
  std::vector<std::string>& files_;
  bool committed_ = false;
};

}  // namespace

common::Result<std::unique_ptr<artifacts::PayloadSink>> InstallSinks::open(const artifacts::Manifest& manifest,
                                                                           const artifacts::Payload& payload) {
  // Refused before the first byte of the first payload lands anywhere.
  for (const auto& p : manifest.payloads) {
    if (p.type == artifacts::PayloadType::kModule) {
      return common::fail(common::Errc::kBadField, "payload " + p.name + " needs update module " + p.module +
                                                        ": module payloads are not supported by this agent build yet");
    }
  }
  switch (payload.type) {
    case artifacts::PayloadType::kRawImage: {
      auto slot = config_.slots.find(payload.slot);
      if (slot == config_.slots.end()) {
        return common::fail(common::Errc::kBadField, "the device has no slot class " + payload.slot + " (config /slots)");
      }
      return SlotSink::open(target_ == "a" ? slot->second.a : slot->second.b);
    }
    case artifacts::PayloadType::kFile:
      return FileSink::open(payload, files_);
    case artifacts::PayloadType::kModule:
      return common::fail(common::Errc::kBadField, "payload " + payload.name + " needs update module " + payload.module +
                                                        ": module payloads are not supported by this agent build yet");
  }
  return common::fail(common::Errc::kBadField, "unknown payload type");
}

void restore_files(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    std::error_code ec;
    fs::path backup = path + std::string(kBackupSuffix);
    if (fs::exists(backup)) {
      fs::rename(backup, path, ec);
    } else {
      fs::remove(path, ec);
    }
    sync_dir(fs::path(path).parent_path());
  }
}

void drop_backups(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    std::error_code ec;
    fs::remove(path + std::string(kBackupSuffix), ec);
  }
}

}  // namespace flotilla::client
