// The update pipeline of one device (DESIGN.md §3, §8): verify and install
// a bundle into the inactive slot, try it once, then after the reboot
// check the slot and the health checks and commit — or roll back. Every
// state is persisted before its action.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "artifacts/stream.hpp"
#include "client/bootloader.hpp"
#include "client/config.hpp"
#include "client/download_resume.hpp"
#include "client/state_store.hpp"
#include "signing/root.hpp"

namespace flotilla::client {

class Agent {
 public:
  static common::Result<std::unique_ptr<Agent>> open(AgentConfig config, Env& env = system_env());

  struct Installed {
    std::string version;
    bool needs_reboot = false;
    std::string target_slot;
    bool waits_for_window = false;  // written and verified; switched to only inside the activation window
  };
  // Verifies `source` against the trust root and this device, streams it
  // into place and, when it needs one, arms a one-time trial boot. Refused
  // (nothing changed) while another update waits for its reboot. With
  // `offered_bundle_id` (a server's offer) any other bundle is refused.
  // With `checkpoints` (a server's download) the install reports where it
  // could resume after a power cut, and a source that stops delivering
  // leaves the update `interrupted` (taken again at the next offer), not
  // `failed`.
  // `activate_window` (the offer's, client/activation_window.hpp): outside
  // it an A/B update is written and verified but its trial boot is not
  // armed (`installed`, waits_for_window) until activation_due(); a
  // bundle that would take effect as it installs is not installed at all
  // (kWaitsForWindow, the update `interrupted`).
  common::Result<Installed> install(artifacts::ByteSource& source, std::optional<std::int64_t> deployment_id,
                                    bool allow_downgrade, std::optional<std::string> offered_bundle_id = std::nullopt,
                                    InstallCheckpoints* checkpoints = nullptr,
                                    const common::Json& activate_window = nullptr);

  enum class Verdict { kCommitted, kRolledBack, kNotRebooted };
  struct TrialOutcome {
    Verdict verdict = Verdict::kNotRebooted;
    std::string detail;  // what happened, in words, for the log or the operator
  };
  // After the trial boot: the expected slot runs and every health check
  // passes → commit (the security version advances only now); otherwise
  // roll back. kNotRebooted changes nothing.
  common::Result<TrialOutcome> verify_and_commit();
  // An update written and verified whose trial boot is not armed yet
  // (a power cut, or a boot environment that could not be written): arms
  // it. Does nothing in any other state.
  common::Status arm_trial();
  // The activation window the current update waits for (kept in the
  // agent's state, so a restart does not arm it early): replaced by a
  // later offer's; activation_due() says whether it is open now.
  common::Status set_activation_window(const common::Json& window);
  common::Result<common::Json> activation_window();
  bool activation_due();
  // For an update written and waiting for its window (`installed` or
  // `rebooting`): the time until the window opens or its deadline lifts
  // it, whichever comes first; nullopt otherwise.
  std::optional<std::chrono::seconds> time_until_activation();
  // The install of `deployment` stopped before its first byte because it
  // would take effect at once outside its window (kWaitsForWindow).
  bool held_for_window(std::int64_t deployment);
  // By hand: the update waiting for or in its trial is undone.
  common::Status rollback(const std::string& why);

  // The root installed at manufacture, walked forward through every
  // rotation accepted since (state_dir/roots/<version>.root.json).
  common::Result<signing::TrustRoot> current_root();
  // A newer root offered by the server: accepted only as the next version
  // signed by a threshold of the current root keys and of its own.
  common::Result<std::int64_t> accept_root(std::string_view envelope_json);

  // {"booted_slot", "components", "deployment", "update", "outbox", "last_error", "root_version"}.
  common::Result<common::Json> status();

  Bootloader& bootloader() { return *boot_; }
  StateStore& state() { return state_; }
  const AgentConfig& config() const { return config_; }
  Env& env() { return env_; }

 private:
  Agent(AgentConfig config, Env& env, StateStore state, std::unique_ptr<Bootloader> boot)
      : config_(std::move(config)), env_(env), state_(std::move(state)), boot_(std::move(boot)) {}
  common::Status advance(UpdateState& u, Step step, const std::string& message = "");
  common::Status undo(UpdateState u, const std::string& why);
  // Arms the one-time trial boot of u.target_slot and records it (`step`).
  common::Status arm(UpdateState& u, Step step);
  common::Result<Installed> install_with_module(UpdateState u, const artifacts::Manifest& manifest,
                                                const std::string& module_name, const std::vector<std::string>& files);
  std::filesystem::path module_workdir() const { return config_.state_dir / "module"; }
  common::Result<TrialOutcome> verify_module_after_reboot(UpdateState u);
  // Arms the trial of `u` once more, unless it was retried already (false).
  common::Result<bool> retry_trial(UpdateState& u);
  // Finishes what a power cut interrupted: an unfinished install becomes
  // `interrupted` (taken again when offered), a verified one gets its
  // trial boot armed.
  common::Status resume();

  AgentConfig config_;
  Env& env_;
  StateStore state_;
  std::unique_ptr<Bootloader> boot_;
};

// Runs one command through `env` with a timeout (killed when it expires):
// passed when it exited 0; `detail` says what happened otherwise.
struct CheckOutcome {
  bool passed = false;
  std::string detail;
};
CheckOutcome run_check(Env& env, const CommandSpec& check);

}  // namespace flotilla::client
