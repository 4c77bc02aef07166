#include "client/slot_device.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "signing/digest.hpp"

namespace flotilla::client {

namespace {

namespace fs = std::filesystem;

std::string describe(const SlotTarget& slot) { return "slot " + slot.name + " (" + slot.path.string() + ")"; }

bool is_kind(const struct stat& st, SlotKind kind) {
  return kind == SlotKind::kBlock ? S_ISBLK(st.st_mode) : S_ISREG(st.st_mode);
}

std::string what_it_is(const struct stat& st) {
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISREG(st.st_mode)) return "a regular file";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISFIFO(st.st_mode)) return "a fifo";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "neither a block device nor a file";
}

common::Status stat_as_kind(const SlotTarget& slot, struct stat& st) {
  if (::stat(slot.path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return common::fail(Errc::kSlotMissing,
                          describe(slot) + " does not exist; expected " +
                              (slot.kind == SlotKind::kBlock ? std::string("a block device (check the partition name)")
                                                             : std::string("an existing file (create it at its full size first)")));
    }
    return common::fail(Errc::kSlotMissing, "cannot inspect " + describe(slot) + ": " + std::strerror(errno));
  }
  if (!is_kind(st, slot.kind)) {
    return common::fail(Errc::kSlotWrongKind, describe(slot) + " is " + what_it_is(st) + ", but the config says it is a " +
                                                  std::string(slot_kind_name(slot.kind)) + " slot (slots/.../kind)");
  }
  return {};
}

bool same_object(const struct stat& a, const struct stat& b) {
  if (S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode)) return a.st_rdev == b.st_rdev;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A regular file attached to a loop device may be mounted through it:
// writing under a mounted filesystem corrupts it, so such a slot is in use.
bool backs_a_loop_device(const fs::path& file) {
  std::error_code ec;
  auto wanted = fs::weakly_canonical(file, ec);
  if (ec) return false;
  for (const auto& entry : fs::directory_iterator("/sys/block", ec)) {
    if (!entry.path().filename().string().starts_with("loop")) continue;
    std::ifstream backing(entry.path() / "loop" / "backing_file");
    std::string name;
    if (backing && std::getline(backing, name) && fs::path(name) == wanted) return true;
  }
  return false;
}

common::Result<std::uint64_t> capacity_of(int fd, const struct stat& st, const SlotTarget& slot) {
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  std::uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    return common::fail(common::Errc::kIo, "cannot read the size of " + describe(slot) + ": " + std::strerror(errno));
  }
  return bytes;
}

}  // namespace

std::string_view slot_kind_name(SlotKind kind) { return kind == SlotKind::kBlock ? "block" : "file"; }

common::Status check_slot_kind(const SlotTarget& slot) {
  struct stat st {};
  return stat_as_kind(slot, st);
}

bool same_slot(const fs::path& a, const fs::path& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && same_object(sa, sb);
}

common::Result<OpenSlot> OpenSlot::open(const SlotTarget& target, const fs::path& booted, std::uint64_t image_bytes) {
  struct stat st {};
  // Checked before open(): opening a fifo for writing would block, and a
  // missing path must never be created.
  if (auto ok = stat_as_kind(target, st); !ok) return std::unexpected(ok.error());
  struct stat running {};
  if (::stat(booted.c_str(), &running) == 0 && same_object(st, running)) {
    return common::fail(Errc::kSlotIsBooted, describe(target) + " is the same " +
                                                 (target.kind == SlotKind::kBlock ? "device" : "file") +
                                                 " as the booted slot " + booted.string() + "; refusing to write it");
  }
  struct stat root {};
  if (target.kind == SlotKind::kBlock && ::stat("/", &root) == 0 && st.st_rdev == root.st_dev) {
    return common::fail(Errc::kSlotIsBooted, describe(target) + " holds the running root filesystem; the bootloader and the "
                                                                "slot configuration disagree about which slot is booted");
  }
  if (target.kind == SlotKind::kFile && backs_a_loop_device(target.path)) {
    return common::fail(Errc::kSlotInUse, describe(target) + " is attached to a loop device (possibly mounted); detach it first");
  }
  // O_EXCL on a block device: the kernel refuses it while the device is
  // mounted, used as swap, part of an md/dm device or opened O_EXCL by
  // another writer. Files are written in place: never created or truncated.
  int flags = O_WRONLY | O_CLOEXEC | (target.kind == SlotKind::kBlock ? O_EXCL : 0);
  int fd = ::open(target.path.c_str(), flags);
  if (fd < 0) {
    if (errno == EBUSY) {
      return common::fail(Errc::kSlotInUse, describe(target) + " is in use (mounted or held by another program)");
    }
    return common::fail(common::Errc::kIo, "cannot open " + describe(target) + ": " + std::strerror(errno));
  }
  OpenSlot slot(fd, 0);
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || !same_object(st, opened)) {
    return common::fail(Errc::kSlotWrongKind, describe(target) + " changed while it was being opened");
  }
  auto capacity = capacity_of(fd, opened, target);
  if (!capacity) return std::unexpected(capacity.error());
  if (image_bytes > *capacity) {
    return common::fail(Errc::kSlotTooSmall, "the image (" + std::to_string(image_bytes) + " bytes) does not fit " +
                                                 describe(target) + " (" + std::to_string(*capacity) + " bytes)");
  }
  slot.capacity_ = *capacity;
  return slot;
}

void OpenSlot::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

common::Status verify_slot_readback(const SlotTarget& slot, std::uint64_t size, std::string_view sha256_hex) {
  constexpr std::size_t kAlign = 4096;
  constexpr std::size_t kChunk = 1024 * 1024;
  // O_DIRECT reads the medium, not the page cache the writes went through.
  // Where it is refused (tmpfs, some filesystems), the cached pages are
  // dropped after the fsync instead, which rereads them from the device.
  bool direct = true;
  int fd = ::open(slot.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0) {
    direct = false;
    fd = ::open(slot.path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return common::fail(common::Errc::kIo, "cannot read back " + describe(slot) + ": " + std::strerror(errno));
  auto close_fd = std::unique_ptr<int, void (*)(int*)>(&fd, [](int* f) { ::close(*f); });
  auto drop_cache = [&] {
    if (slot.kind == SlotKind::kBlock) (void)::ioctl(fd, BLKFLSBUF, 0);
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  };
  if (!direct) drop_cache();
  auto buffer = std::unique_ptr<std::uint8_t, decltype(&std::free)>(
      static_cast<std::uint8_t*>(std::aligned_alloc(kAlign, kChunk)), &std::free);
  if (!buffer) return common::fail(common::Errc::kIo, "no memory to read back " + describe(slot));
  signing::Sha256 hasher;
  std::uint64_t done = 0;
  while (done < size) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, size - done));
    // O_DIRECT lengths are whole blocks; the part past the image is not hashed.
    std::size_t length = direct ? (want + kAlign - 1) / kAlign * kAlign : want;
    ssize_t n = ::pread(fd, buffer.get(), length, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && direct) {
      // The filesystem accepted O_DIRECT at open but not this read.
      direct = false;
      (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_DIRECT);
      drop_cache();
      continue;
    }
    if (n < 0) return common::fail(common::Errc::kIo, "cannot read back " + describe(slot) + ": " + std::strerror(errno));
    if (n == 0) break;
    std::size_t used = std::min(static_cast<std::size_t>(n), want);
    hasher.update(std::span<const std::uint8_t>(buffer.get(), used));
    done += used;
  }
  if (done < size) {
    return common::fail(Errc::kSlotReadbackMismatch, describe(slot) + " ends after " + std::to_string(done) +
                                                         " bytes when read back; the image has " + std::to_string(size));
  }
  auto digest = hasher.finish_hex();
  if (digest != sha256_hex) {
    return common::fail(Errc::kSlotReadbackMismatch,
                        describe(slot) + " does not hold what was written: read back SHA-256 " + digest + ", expected " +
                            std::string(sha256_hex) + " (failing flash?); the trial boot is not armed");
  }
  return {};
}

}  // namespace flotilla::client
