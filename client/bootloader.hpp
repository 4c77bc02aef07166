// The boot side of A/B updates (DESIGN.md §8): which slot runs, try the
// other one once, then mark it good or bad. Boot counting makes a new slot
// that never comes up fall back on its own.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "client/config.hpp"
#include "common/error.hpp"

namespace flotilla::client {

class Bootloader {
 public:
  virtual ~Bootloader() = default;
  // The slot the system runs now: "a" or "b".
  virtual common::Result<std::string> booted_slot() = 0;
  // The next boot tries `slot` once; if it does not get marked good, the
  // boot after that returns to the other slot.
  virtual common::Status try_once(const std::string& slot) = 0;
  // `slot` is good: boot it from now on, with full retries.
  virtual common::Status mark_good(const std::string& slot) = 0;
  // `slot` is bad: do not boot it again until it is written anew.
  virtual common::Status mark_bad(const std::string& slot) = 0;
  // Changes with every boot: tells "not rebooted yet" from "fell back".
  virtual common::Result<std::string> boot_id() = 0;
};

// The configured backend. Today: `file`; grub, uboot and custom are
// refused with a message saying so.
common::Result<std::unique_ptr<Bootloader>> open_bootloader(const AgentConfig& config);

// The `file` backend: a JSON environment with U-Boot's boot-count
// semantics, {"BOOT_ORDER": "a b", "BOOT_a_LEFT": 3, "BOOT_b_LEFT": 3,
// "BOOTED": "a"}. Created with slot a booted when missing.
class FileBootloader final : public Bootloader {
 public:
  explicit FileBootloader(std::filesystem::path env) : env_(std::move(env)) {}
  common::Result<std::string> booted_slot() override;
  common::Status try_once(const std::string& slot) override;
  common::Status mark_good(const std::string& slot) override;
  common::Status mark_bad(const std::string& slot) override;
  common::Result<std::string> boot_id() override;

  // What boot firmware does at power-on: the first slot of BOOT_ORDER with
  // tries left is booted and its count decremented; with none left, the
  // counts are reset and the first slot boots. Returns the booted slot.
  common::Result<std::string> power_on();

 private:
  common::Result<common::Json> load();
  common::Status save(const common::Json& env);
  std::filesystem::path env_;
};

inline constexpr int kBootTries = 3;
// The other slot of a pair.
std::string other_slot(const std::string& slot);

}  // namespace flotilla::client
