// The boot side of A/B updates (DESIGN.md §8): which slot runs, try the
// other one once, then mark it good or bad. Boot counting makes a new slot
// that never comes up fall back on its own.
//
// Backends: `file` (a JSON environment) and `uboot` (the real fw_printenv /
// fw_setenv on U-Boot's environment) share U-Boot's counting scheme
// (BOOT_ORDER, BOOT_<slot>_LEFT); `grub` (a GRUB environment block the
// agent writes in place, as GRUB's save_env does) uses RAUC's GRUB scheme
// (ORDER, <slot>_OK, <slot>_TRY). The boot scripts that read these are in
// examples/boot/ (docs/boot-integration.md).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "client/config.hpp"
#include "client/env.hpp"
#include "common/error.hpp"

namespace flotilla::client {

class Bootloader {
 public:
  virtual ~Bootloader() = default;
  // The slot the system runs now: "a" or "b". From the kernel command line
  // (flotilla.slot= or rauc.slot=) on a real device; from the environment
  // that `power_on` keeps in simulation.
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
  // What the boot firmware or bootloader script does at power-on, for
  // simulated devices (tests, the demo): picks and records the slot.
  virtual common::Result<std::string> power_on() = 0;
};

// Variables of a boot environment.
class BootEnv {
 public:
  virtual ~BootEnv() = default;
  virtual common::Result<std::map<std::string, std::string>> read() = 0;
  // Sets these (others are kept), all at once.
  virtual common::Status write(const std::map<std::string, std::string>& values) = 0;
};

// Helper programs (fw_setenv, a site's script) run through `env`.
common::Result<std::unique_ptr<Bootloader>> open_bootloader(const AgentConfig& config, Env& env = system_env());

// U-Boot's counting scheme over any environment. `upper` names the slots
// A and B in variables (U-Boot, RAUC's convention) instead of a and b.
class CountingBootloader : public Bootloader {
 public:
  CountingBootloader(std::unique_ptr<BootEnv> env, bool upper) : env_(std::move(env)), upper_(upper) {}
  common::Result<std::string> booted_slot() override;
  common::Status try_once(const std::string& slot) override;
  common::Status mark_good(const std::string& slot) override;
  common::Status mark_bad(const std::string& slot) override;
  common::Result<std::string> boot_id() override;
  // The first slot of BOOT_ORDER with tries left boots and its count goes
  // down; with none left the counts are reset and the first slot boots.
  common::Result<std::string> power_on() override;

 private:
  std::string name(const std::string& slot) const;
  std::string left(const std::string& slot) const { return "BOOT_" + name(slot) + "_LEFT"; }
  common::Result<std::map<std::string, std::string>> load();
  std::unique_ptr<BootEnv> env_;
  bool upper_;
};

// The `file` backend: {"BOOT_ORDER": "a b", "BOOT_a_LEFT": 3, ...} in JSON,
// created with slot a booted when missing.
class FileBootloader final : public CountingBootloader {
 public:
  explicit FileBootloader(std::filesystem::path env);
};

inline constexpr int kBootTries = 3;
// The other slot of a pair.
std::string other_slot(const std::string& slot);

}  // namespace flotilla::client
