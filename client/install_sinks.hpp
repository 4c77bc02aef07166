// Where verified payload bytes go on a device (DESIGN.md §8): raw images
// into the inactive slot of their class, files through a temporary file
// renamed over the old one (kept for rollback), module payloads into the
// update module's work directory (client/update_module.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "artifacts/stream.hpp"
#include "client/config.hpp"
#include "client/download_resume.hpp"
#include "client/env.hpp"

namespace flotilla::client {

// Suffix of a replaced file kept until the update is committed.
inline constexpr std::string_view kBackupSuffix = ".flotilla-old";

// Raw images and bundles that say so take effect at the next boot; file
// payloads and update modules otherwise take effect as they install.
bool takes_effect_at_reboot(const artifacts::Manifest& manifest);

class InstallSinks final : public artifacts::SinkFactory {
 public:
  // `target_slot`: "a" or "b", the inactive one.
  // `checkpoints` (optional): a download that can resume after a power cut.
  // Slot writes and syncs are told to `env`.
  InstallSinks(const AgentConfig& config, std::string target_slot, std::filesystem::path module_workdir, Env& env,
               InstallCheckpoints* checkpoints = nullptr)
      : config_(config), target_(std::move(target_slot)), module_workdir_(std::move(module_workdir)), env_(env),
        checkpoints_(checkpoints) {}
  common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const artifacts::Manifest& manifest,
                                                               const artifacts::Payload& payload) override;
  // Destination paths of file payloads, once committed.
  const std::vector<std::string>& files() const { return files_; }
  // Outside the rollout's activation window (`window` in words): a bundle
  // that takes effect as it installs is refused (kWaitsForWindow) before
  // a byte of it goes anywhere; one that waits for a reboot goes ahead.
  void hold_immediate_effects(std::string window) { held_for_ = std::move(window); }

 private:
  struct SlotPlan {
    SlotTarget target;              // the inactive side, written
    std::filesystem::path booted;   // the side the system runs from
  };
  common::Result<SlotPlan> slot_for(const artifacts::Payload& payload) const;
  common::Status check_bundle(const artifacts::Manifest& manifest);

  const AgentConfig& config_;
  std::string target_;
  std::filesystem::path module_workdir_;
  Env& env_;
  InstallCheckpoints* checkpoints_;
  std::vector<std::string> files_;
  bool checked_ = false;  // check_bundle passed (it runs before the first payload)
  std::optional<std::string> held_for_;
};

// Undoes file payloads: each backup goes back; a file that had none is removed.
void restore_files(const std::vector<std::string>& paths);
// After a commit: the backups are no longer needed.
void drop_backups(const std::vector<std::string>& paths);

}  // namespace flotilla::client
