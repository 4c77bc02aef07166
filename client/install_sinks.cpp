#include "client/install_sinks.hpp"

#include <algorithm>

#include "client/bootloader.hpp"
#include "client/errors.hpp"
#include "client/slot_device.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

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

// Writes on a thread of its own, so hashing (the reader's thread) and
// writing overlap: an install then costs about the larger of the two, not
// their sum. A few fixed buffers bound the memory.
//
// An image is written once and not read again soon, so it should not fill
// the page cache: each window of kFlushWindow bytes is handed to the
// device as soon as it is written (sync_file_range), and the window
// before it, on the medium by then, leaves the cache. The device writes
// while the next window is hashed; the final sync finds little left to do;
// a device with little RAM does not evict its running system's pages for
// an image nobody reads. (Not a durability point: checkpoints and finish()
// still sync.)
class BackgroundWriter {
 public:
  // Writes from the descriptor's position, `offset`, on.
  BackgroundWriter(int fd, std::string path, std::uint64_t offset, Env& env)
      : fd_(fd), path_(std::move(path)), window_start_(offset), offset_(offset), env_(env), thread_([this] { loop(); }) {}
  ~BackgroundWriter() { stop(); }

  common::Status append(std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
      if (filling_.size() == kBufferBytes) {
        if (auto ok = hand_over(); !ok) return ok;
      }
      std::size_t n = std::min(bytes.size(), kBufferBytes - filling_.size());
      filling_.insert(filling_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      bytes = bytes.subspan(n);
    }
    return {};
  }
  // Everything written (or the first error).
  common::Status drain() {
    if (!filling_.empty()) {
      if (auto ok = hand_over(); !ok) return ok;
    }
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return queue_.empty() || !error_.empty(); });
    if (!error_.empty()) return common::fail(common::Errc::kIo, error_);
    return {};
  }
  std::size_t buffers_written() {
    std::lock_guard lock(mutex_);
    return written_;
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  static constexpr std::size_t kBufferBytes = 256 * 1024;
  static constexpr std::size_t kQueued = 3;

  common::Status hand_over() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return queue_.size() < kQueued || !error_.empty(); });
    if (!error_.empty()) return common::fail(common::Errc::kIo, error_);
    std::vector<std::uint8_t> next;
    if (!spare_.empty()) {
      next = std::move(spare_.back());
      spare_.pop_back();
    }
    next.clear();
    queue_.push_back(std::move(filling_));
    filling_ = std::move(next);
    filling_.reserve(kBufferBytes);
    changed_.notify_all();
    return {};
  }
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      std::vector<std::uint8_t> buffer = std::move(queue_.front());
      lock.unlock();
      auto ok = error_.empty() ? write_all(fd_, buffer, path_) : common::Status{};
      if (ok) {
        env_.slot_written(path_, offset_, buffer.size());
        offset_ += buffer.size();
        if (offset_ - window_start_ >= kFlushWindow) flush_window();
      }
      lock.lock();
      if (ok) ++written_;
      if (!ok && error_.empty()) error_ = ok.error().message();
      queue_.pop_front();
      spare_.push_back(std::move(buffer));
      changed_.notify_all();
    }
  }

  // Starts writeback of the window just written; waits for the one
  // before it and drops it from the cache. Best effort: a file system
  // without these calls gets the plain page cache.
  void flush_window() {
    auto length = static_cast<off_t>(offset_ - window_start_);
    (void)::sync_file_range(fd_, static_cast<off_t>(window_start_), length, SYNC_FILE_RANGE_WRITE);
    if (previous_window_length_ > 0) {
      (void)::sync_file_range(fd_, previous_window_start_, previous_window_length_,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      (void)::posix_fadvise(fd_, previous_window_start_, previous_window_length_, POSIX_FADV_DONTNEED);
    }
    previous_window_start_ = static_cast<off_t>(window_start_);
    previous_window_length_ = length;
    window_start_ = offset_;
  }

  static constexpr std::uint64_t kFlushWindow = 8 << 20;

  int fd_;
  std::string path_;
  std::uint64_t window_start_ = 0;
  off_t previous_window_start_ = 0;
  off_t previous_window_length_ = 0;
  std::vector<std::uint8_t> filling_;
  std::deque<std::vector<std::uint8_t>> queue_;
  std::vector<std::vector<std::uint8_t>> spare_;
  std::uint64_t offset_;
  Env& env_;
  std::string error_;
  std::size_t written_ = 0;  // buffers written
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
};

// A raw image into the inactive slot, written in place through the one
// descriptor OpenSlot checked (block device or file alike; bytes past the
// image are left as they were). The slot is inactive, so a partial write
// harms nothing: the bootloader is switched only after finish() and the
// reader's digest check, and with `verify` only after the slot, read back
// from the medium, matched too.
//
// With checkpoints (a download that can resume after a power cut), the
// bytes written so far are made durable and reported every
// kCheckpointBytes; a resumed download's first `skip` bytes are the slot's
// own (read back to be hashed again) and are not written again.
class SlotSink final : public artifacts::PayloadSink {
 public:
  // A checkpoint syncs the slot and writes the agent's state: at most
  // every MiB and every quarter second, so a cut costs at most about that
  // much download, and a fast link is not slowed by syncs. The first
  // comes after the first MiB.
  static constexpr std::uint64_t kCheckpointBytes = 1 << 20;
  static constexpr std::chrono::milliseconds kCheckpointInterval{250};

  static common::Result<std::unique_ptr<artifacts::PayloadSink>> open(SlotTarget target, const fs::path& booted,
                                                                      const artifacts::Payload& payload, bool verify,
                                                                      InstallCheckpoints* checkpoints, Env& env) {
    auto slot = OpenSlot::open(target, booted, payload.size);
    if (!slot) return std::unexpected(slot.error());
    std::uint64_t skip = checkpoints ? std::min(checkpoints->already_in_slot(), payload.size) : 0;
    if (skip > 0 && ::lseek(slot->fd(), static_cast<off_t>(skip), SEEK_SET) < 0) {
      return common::fail(common::Errc::kIo, "cannot seek in " + target.path.string() + ": " + std::strerror(errno));
    }
    return std::unique_ptr<artifacts::PayloadSink>(
        new SlotSink(std::move(*slot), std::move(target), payload, verify, checkpoints, skip, env));
  }
  ~SlotSink() override { close(); }
  common::Status write(std::span<const std::uint8_t> bytes) override {
    if (received_ < skip_) {
      auto already = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), skip_ - received_));
      received_ += already;
      bytes = bytes.subspan(already);
    }
    if (bytes.empty()) return {};
    received_ += bytes.size();
    if (auto ok = writer_.append(bytes); !ok) return ok;
    if (!reached_writing_ && writer_.buffers_written() > 0) pass_writing_point();  // mid-image when it is large
    if (checkpoints_ && received_ - checkpointed_ >= kCheckpointBytes &&
        env_.steady_now() - checkpointed_at_ >= kCheckpointInterval) {
      return checkpoint();
    }
    return {};
  }
  common::Status finish() override {
    if (auto ok = writer_.drain(); !ok) return ok;
    // The writer thread may have lagged behind every write() call: the
    // point is still passed before the slot is synced, never skipped.
    pass_writing_point();
    if (auto ok = sync_fd(slot_.fd(), target_.path.string()); !ok) return ok;
    env_.slot_synced(target_.path);
    if (env_.requested("lose-slot-write")) lose_first_byte();
    if (!verify_) return {};
    return verify_slot_readback(target_, payload_.size, payload_.sha256);
  }
  common::Status commit() override {
    close();
    return {};
  }
  void abort() override { close(); }

 private:
  SlotSink(OpenSlot slot, SlotTarget target, const artifacts::Payload& payload, bool verify, InstallCheckpoints* checkpoints,
           std::uint64_t skip, Env& env)
      : slot_(std::move(slot)), target_(std::move(target)), payload_(payload), verify_(verify), checkpoints_(checkpoints),
        skip_(skip), checkpointed_(skip), env_(env), writer_(slot_.fd(), target_.path.string(), skip, env) {}
  // The "writing_slot" power-cut point, once per image.
  void pass_writing_point() {
    if (reached_writing_) return;
    reached_writing_ = true;
    env_.reached("writing_slot");
  }
  // Everything handed over so far is on the medium; then it is reported.
  common::Status checkpoint() {
    if (auto ok = writer_.drain(); !ok) return ok;
    if (::fdatasync(slot_.fd()) != 0) return common::fail(common::Errc::kIo, "cannot sync " + target_.path.string() + ": " + std::strerror(errno));
    env_.slot_synced(target_.path);
    checkpointed_ = received_;
    checkpointed_at_ = env_.steady_now();
    checkpoints_->durable(received_);
    return {};
  }
  void close() {
    writer_.stop();
    slot_.close();
  }
  // Test fault: flash that acknowledged a write it did not keep.
  void lose_first_byte() {
    std::uint8_t byte = 0;
    int fd = ::open(target_.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    if (::pread(fd, &byte, 1, 0) == 1) {
      byte = static_cast<std::uint8_t>(~byte);
      (void)!::pwrite(fd, &byte, 1, 0);
      ::fsync(fd);
    }
    ::close(fd);
  }
  OpenSlot slot_;
  SlotTarget target_;
  artifacts::Payload payload_;
  bool verify_;
  InstallCheckpoints* checkpoints_;
  std::uint64_t skip_;
  std::uint64_t received_ = 0;      // payload bytes given to write(), skipped ones included
  std::uint64_t checkpointed_ = 0;  // of them, reported durable
  std::chrono::steady_clock::time_point checkpointed_at_{};
  bool reached_writing_ = false;
  Env& env_;
  BackgroundWriter writer_;
};

// A file staged next to its destination and renamed over it at commit.
// For a file payload (`installed` given) the old file is kept as a backup
// until the update is committed, and the destination is recorded; for a
// module payload the file simply appears in the module's files/.
class StagedFileSink final : public artifacts::PayloadSink {
 public:
  static common::Result<std::unique_ptr<artifacts::PayloadSink>> open(fs::path dest, std::uint32_t mode,
                                                                      std::vector<std::string>* installed) {
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    fs::path temp = dest.parent_path() / (".flotilla-tmp-" + dest.filename().string());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd < 0) return common::fail(common::Errc::kIo, "cannot create " + temp.string() + ": " + std::strerror(errno));
    return std::unique_ptr<artifacts::PayloadSink>(new StagedFileSink(fd, temp, std::move(dest), mode, installed));
  }
  ~StagedFileSink() override { abort(); }
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
    if (installed_ && fs::exists(dest_) && !fs::exists(backup)) {
      fs::rename(dest_, backup, ec);
      if (ec) return common::fail(common::Errc::kIo, "cannot keep " + dest_.string() + " for rollback: " + ec.message());
    }
    fs::rename(temp_, dest_, ec);
    if (ec) return common::fail(common::Errc::kIo, "cannot install " + dest_.string() + ": " + ec.message());
    sync_dir(dest_.parent_path());
    if (installed_) installed_->push_back(dest_.string());
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
  StagedFileSink(int fd, fs::path temp, fs::path dest, std::uint32_t mode, std::vector<std::string>* installed)
      : fd_(fd), temp_(std::move(temp)), dest_(std::move(dest)), mode_(mode), installed_(installed) {}
  int fd_;
  fs::path temp_, dest_;
  std::uint32_t mode_;
  std::vector<std::string>* installed_;
  bool committed_ = false;
};

}  // namespace

common::Result<InstallSinks::SlotPlan> InstallSinks::slot_for(const artifacts::Payload& payload) const {
  auto pair = config_.slots.find(payload.slot);
  if (pair == config_.slots.end()) {
    return common::fail(Errc::kNoSlotClass, "the device has no slot class " + payload.slot + " (config /slots)");
  }
  return SlotPlan{{payload.slot + "/" + target_, pair->second.side(target_), pair->second.kind},
                  pair->second.side(other_slot(target_))};
}

// What this device cannot take is refused before the first byte lands:
// every raw image is checked against its slot here, when the manifest has
// been verified and before any payload is read, so a second image that
// does not fit stops the bundle before the first is written.
common::Status InstallSinks::check_bundle(const artifacts::Manifest& manifest) {
  if (checked_) return {};
  std::string module;
  bool raw = false;
  for (const auto& p : manifest.payloads) {
    if (p.type == artifacts::PayloadType::kSwu) {
      return common::fail(Errc::kUnsupportedPayloads, "bundle " + manifest.name + " carries SWUpdate images (payload type swu) "
                                                       "for devices served over DDI; flotilla-agent does not install them");
    }
    if (p.type == artifacts::PayloadType::kRawImage) {
      raw = true;
      auto plan = slot_for(p);
      if (!plan) return std::unexpected(plan.error());
      auto probe = OpenSlot::open(plan->target, plan->booted, p.size);
      if (!probe) return std::unexpected(probe.error());
    }
    if (p.type != artifacts::PayloadType::kModule) continue;
    if (!module.empty() && p.module != module) {
      return common::fail(Errc::kUnsupportedPayloads, "payloads for two update modules (" + module + ", " + p.module +
                                                        ") in one bundle are not supported");
    }
    module = p.module;
  }
  if (held_for_ && !takes_effect_at_reboot(manifest)) {
    return common::fail(Errc::kWaitsForWindow, "bundle " + manifest.name + " " + manifest.version.text() +
                                                   " takes effect as it installs; it waits for its activation window (" +
                                                   *held_for_ + ")");
  }
  checked_ = true;
  if (module.empty()) return {};
  if (raw) return common::fail(Errc::kUnsupportedPayloads, "a bundle may not mix raw images and update-module payloads");
  if (!config_.modules_dir) {
    return common::fail(Errc::kModuleMissing, "payloads need update module " + module + " but the config names no modules_dir");
  }
  auto executable = *config_.modules_dir / module;
  if (::access(executable.c_str(), X_OK) != 0) {
    return common::fail(Errc::kModuleMissing, "update module " + module + " is not installed in " + config_.modules_dir->string());
  }
  return {};
}

common::Result<std::unique_ptr<artifacts::PayloadSink>> InstallSinks::open(const artifacts::Manifest& manifest,
                                                                           const artifacts::Payload& payload) {
  if (auto ok = check_bundle(manifest); !ok) return std::unexpected(ok.error());
  switch (payload.type) {
    case artifacts::PayloadType::kRawImage: {
      auto plan = slot_for(payload);
      if (!plan) return std::unexpected(plan.error());
      // Only the first payload resumes (docs/agent.md, "Power cuts").
      bool first = &payload == manifest.payloads.data();
      return SlotSink::open(std::move(plan->target), plan->booted, payload, config_.verify_slots_after_write,
                            first ? checkpoints_ : nullptr, env_);
    }
    case artifacts::PayloadType::kFile: {
      fs::path dest = payload.path;
      return StagedFileSink::open(config_.files_root ? *config_.files_root / dest.relative_path() : dest, payload.mode, &files_);
    }
    case artifacts::PayloadType::kModule:
      return StagedFileSink::open(module_workdir_ / "files" / payload.name, 0600, nullptr);
    case artifacts::PayloadType::kSwu:
      break;  // refused by check_bundle
  }
  return common::fail(common::Errc::kBadField, "unknown payload type");
}

bool takes_effect_at_reboot(const artifacts::Manifest& manifest) {
  return manifest.reboot_required || std::any_of(manifest.payloads.begin(), manifest.payloads.end(), [](const auto& p) {
           return p.type == artifacts::PayloadType::kRawImage;
         });
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
