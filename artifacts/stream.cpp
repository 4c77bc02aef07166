#include "artifacts/stream.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "artifacts/errors.hpp"

namespace flotilla::artifacts {

common::Result<std::unique_ptr<FileSource>> FileSource::open(const std::string& path) {
  if (path == "-") return std::unique_ptr<FileSource>(new FileSource(::dup(STDIN_FILENO), "-"));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::fail(Errc::kIo, path + ": cannot open: " + std::strerror(errno));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<FileSource>(new FileSource(fd, path));
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

common::Result<std::size_t> FileSource::read(std::span<std::uint8_t> buffer) {
  for (;;) {
    ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return common::fail(Errc::kIo, path_ + ": read: " + std::strerror(errno));
  }
}

namespace {
class DiscardSink final : public PayloadSink {
 public:
  common::Status write(std::span<const std::uint8_t>) override { return {}; }
  common::Status finish() override { return {}; }
  common::Status commit() override { return {}; }
  void abort() override {}
};
}  // namespace

common::Result<std::unique_ptr<PayloadSink>> DiscardSinkFactory::open(const Manifest&,
                                                                      const Payload&) {
  return std::make_unique<DiscardSink>();
}

}  // namespace flotilla::artifacts
