// The one way the agent writes a slot (DESIGN.md §8, docs/agent.md
// "Slots"). A slot's kind is stated in the config, never guessed from the
// path: a mistyped block-device path must not become a regular file on
// /dev's tmpfs that swallows the image and arms a boot of a partition that
// was never written. Before the first byte, every check that can refuse
// does: the path exists and is of its kind, it is not what the running
// system uses, nothing else holds it, and the image fits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "client/errors.hpp"
#include "common/error.hpp"

namespace flotilla::client {

enum class SlotKind { kBlock, kFile };

std::string_view slot_kind_name(SlotKind kind);  // "block" or "file"

// One side of a slot pair. `name` ("rootfs/b") only labels messages.
struct SlotTarget {
  std::string name;
  std::filesystem::path path;
  SlotKind kind = SlotKind::kBlock;
};

// The path exists and is of its kind (kSlotMissing, kSlotWrongKind).
// Creates nothing; follows symlinks (/dev/disk/by-partlabel/...).
common::Status check_slot_kind(const SlotTarget& slot);

// True when both paths name the same block device or the same file.
bool same_slot(const std::filesystem::path& a, const std::filesystem::path& b);

// A slot opened for writing an image: the descriptor every byte goes
// through. Block devices are opened with O_EXCL, so a mounted device (or
// one another writer holds) is refused by the kernel itself; files are
// opened in place, never created or truncated. Move-only; closes on
// destruction.
class OpenSlot {
 public:
  // Refuses, writing nothing: a missing path or one of the wrong kind; the
  // slot the system runs from (`booted`, the pair's other side, or the
  // device holding "/") — kSlotIsBooted; a slot mounted, held, or backing
  // a loop device — kSlotInUse; a slot smaller than `image_bytes` —
  // kSlotTooSmall.
  static common::Result<OpenSlot> open(const SlotTarget& target, const std::filesystem::path& booted,
                                       std::uint64_t image_bytes);
  OpenSlot(OpenSlot&& other) noexcept : fd_(other.fd_), capacity_(other.capacity_) { other.fd_ = -1; }
  OpenSlot& operator=(OpenSlot&&) = delete;
  OpenSlot(const OpenSlot&) = delete;
  ~OpenSlot() { close(); }

  int fd() const { return fd_; }
  std::uint64_t capacity() const { return capacity_; }  // bytes the slot holds
  void close();

 private:
  OpenSlot(int fd, std::uint64_t capacity) : fd_(fd), capacity_(capacity) {}
  int fd_;
  std::uint64_t capacity_;
};

// Reads the first `size` bytes of the slot back from the device — with
// O_DIRECT where the platform allows it, else after dropping the cached
// pages — and compares their SHA-256 with `sha256_hex`
// (kSlotReadbackMismatch). Catches flash that acknowledged writes it did
// not keep, before a boot of it is armed.
common::Status verify_slot_readback(const SlotTarget& slot, std::uint64_t size, std::string_view sha256_hex);

}  // namespace flotilla::client
