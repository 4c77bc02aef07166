#include "common/file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace flotilla::common {
namespace {

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::unexpected<Error> io_error(const std::filesystem::path& path, std::string_view what) {
  return fail(Errc::kIo, path.string() + ": " + std::string(what) + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "write");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status close_checked(Fd& fd, const std::filesystem::path& path) {
  if (::close(fd.release()) != 0) return io_error(path, "close");
  return {};
}

}  // namespace

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return io_error(path, "cannot open");
  std::string out;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "read");
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return fail(Errc::kTooLarge, path.string() + ": larger than the limit of " +
                                       std::to_string(max_bytes) + " bytes");
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

namespace {

// `data` in a fresh temporary file beside `path` (fsynced, `mode`); its
// name, or the error (nothing left behind).
Result<std::filesystem::path> write_temporary(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::filesystem::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) return io_error(temp, "cannot create");
  auto cleanup = [&](std::unexpected<Error> error) {
    ::unlink(temp.c_str());
    return error;
  };
  // The umask may have cleared bits; set exactly what was asked.
  if (::fchmod(fd.get(), mode) != 0) return cleanup(io_error(temp, "chmod"));
  if (auto ok = write_all(fd.get(), data, temp); !ok) return cleanup(std::unexpected(ok.error()));
  if (::fsync(fd.get()) != 0) return cleanup(io_error(temp, "fsync"));
  if (auto ok = close_checked(fd, temp); !ok) return cleanup(std::unexpected(ok.error()));
  return temp;
}

void sync_directory_of(const std::filesystem::path& path) {
  auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  auto temp = write_temporary(path, data, mode);
  if (!temp) return std::unexpected(temp.error());
  if (::rename(temp->c_str(), path.c_str()) != 0) {
    auto error = io_error(path, "rename");
    ::unlink(temp->c_str());
    return error;
  }
  sync_directory_of(path);
  return {};
}

// link() gives the whole file a name only if the name is free: a power cut
// leaves either no file or all of it, never a truncated key that would
// block every later start.
Status write_file_exclusive(const std::filesystem::path& path, std::string_view data,
                            mode_t mode) {
  auto temp = write_temporary(path, data, mode);
  if (!temp) return std::unexpected(temp.error());
  bool linked = ::link(temp->c_str(), path.c_str()) == 0;
  auto error = linked ? Status{} : Status(io_error(path, "cannot create"));
  ::unlink(temp->c_str());
  if (linked) sync_directory_of(path);
  return error;
}

PartialFiles::~PartialFiles() {
  if (kept_) return;
  std::error_code ec;
  for (const auto& path : paths_) std::filesystem::remove_all(path, ec);
}

}  // namespace flotilla::common
