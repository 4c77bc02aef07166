#include "client/agent.hpp"

#include "artifacts/reader.hpp"
#include "client/activation_window.hpp"
#include "client/errors.hpp"
#include "client/install_sinks.hpp"
#include "client/update_module.hpp"
#include "common/file.hpp"

namespace flotilla::client {

CheckOutcome run_check(Env& env, const CommandSpec& check) {
  auto result = env.run(check.argv, check.timeout);
  if (!result) return {false, result.error().message()};
  return {result->exit_code == 0, result->detail};
}

common::Result<std::unique_ptr<Agent>> Agent::open(AgentConfig config, Env& env) {
  std::map<std::string, ComponentState> initial;
  for (const auto& [name, c] : config.initial_versions) initial[name] = {c.version, c.security_version};
  auto state = StateStore::open(config.state_dir, initial, env);
  if (!state) return common::propagate(state, "opening the agent's state in " + config.state_dir.string());
  auto boot = open_bootloader(config, env);
  if (!boot) return common::propagate(boot, "opening the boot environment");
  std::unique_ptr<Agent> agent(new Agent(std::move(config), env, std::move(*state), std::move(*boot)));
  if (auto ok = agent->resume(); !ok) return common::propagate(ok, "finishing what the last run left (a power cut?)");
  return agent;
}

common::Status Agent::resume() {
  auto u = state_.update();
  if (!u) return std::unexpected(u.error());
  if (u->state == Stage::kDownloadingInstalling) {
    // Cut off mid-stream: the inactive slot holds a partial image, which
    // nothing boots; staged files were never renamed into place. A power
    // cut is not a failed update: the deployment stays in progress and the
    // download starts again when the server offers it again (at the next
    // poll, while it is active). Only verification, installation and
    // health checks fail an update.
    u->error = "interrupted (power loss or kill) while downloading and installing; nothing was activated; "
               "the download starts again";
    if (auto ok = advance(*u, Step::kCut); !ok) return ok;
    // and the running slot is good, as below: left unconfirmed, a boot
    // counter that ran out could give a later trial slot a second try.
  } else if (u->state == Stage::kInstalled && u->target_slot.empty()) {
    // Cut off while an update module worked: it rolls back what it did.
    auto name = state_.setting("module");
    if (name && *name && config_.modules_dir) UpdateModule(*config_.modules_dir / **name, module_workdir(), env_).abandon();
    u->error = "the update module was interrupted (power loss or kill) and rolled back";
    if (auto ok = advance(*u, Step::kRefuse); !ok) return ok;
  }
  // Written, its trial waiting for the rollout's activation window: the
  // running slot stays the good one (renewed below), nothing is armed.
  bool held = u->state == Stage::kInstalled && !u->target_slot.empty() && !activation_due();
  if (u->state == Stage::kInstalled && !held) return arm_trial();
  if (waits_for_reboot(u->state) && !held) return {};
  // No trial under way: the running slot is good, and its boot count is
  // renewed (like RAUC's mark-good at every start), unless it is the slot
  // just found bad and the reboot back has not happened yet.
  auto booted = boot_->booted_slot();
  if (!booted) return std::unexpected(booted.error());
  if (u->state == Stage::kRolledBack && *booted == u->target_slot) return {};
  return boot_->mark_good(*booted);
}

// The one way an update changes stage: the table (client/lifecycle.hpp)
// decides, and the new stage is persisted (with its event) before the
// caller acts on it. A commit advances the component in the same write.
common::Status Agent::advance(UpdateState& u, Step step, const std::string& message) {
  auto next = next_stage(u.state, step);
  if (!next) return std::unexpected(next.error());
  u.state = *next;
  u.updated_at = common::format_rfc3339(env_.now());
  auto saved = *next == Stage::kCommitted ? state_.commit_update(u) : state_.set_update(u, message);
  if (!saved) return common::propagate(saved, "recording stage " + std::string(stage_name(*next)));
  return saved;
}

common::Status Agent::set_activation_window(const common::Json& window) {
  return state_.set_setting("activate_window", window.is_object() ? window.dump() : "");
}

common::Result<common::Json> Agent::activation_window() {
  auto text = state_.setting("activate_window");
  if (!text) return std::unexpected(text.error());
  if (!*text || (*text)->empty()) return common::Json(nullptr);
  auto window = common::Json::parse(**text, nullptr, false);
  return window.is_object() ? window : common::Json(nullptr);
}

// Unreadable state counts as open: an update is never held for good by a
// setting the agent cannot read.
bool Agent::activation_due() {
  auto window = activation_window();
  return !window || activation_window_open(*window, env_.now());
}

std::optional<std::chrono::seconds> Agent::time_until_activation() {
  auto u = state_.update();
  if (!u) return std::nullopt;
  bool waiting = u->state == Stage::kInstalled || u->state == Stage::kRebooting ||
                 (u->state == Stage::kInterrupted && held_for_window(u->deployment_id.value_or(-1)));
  if (!waiting || activation_due()) return std::nullopt;
  auto window = activation_window();
  if (!window) return std::nullopt;
  auto opens = activation_window_opens(*window);
  if (!opens) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(std::max(*opens - env_.now(), common::TimePoint::duration::zero()));
}

bool Agent::held_for_window(std::int64_t deployment) {
  auto held = state_.setting("held_for_window");
  return held && *held && **held == std::to_string(deployment);
}

common::Status Agent::arm_trial() {
  auto u = state_.update();
  if (!u) return std::unexpected(u.error());
  if (u->state != Stage::kInstalled || u->target_slot.empty()) return {};
  // Written and verified, trial not armed yet (a power cut came between).
  return arm(*u, Step::kArm);
}

// The trial is the first boot after this one: its boot id is taken now,
// not at the install (a power cut between the write and the arming has
// rebooted the device once, into the old slot, and that boot is not the
// trial). Armed first (idempotent), then recorded: a cut in between
// leaves the stage as it was, and the next start arms it again.
// The running slot is marked good first: this boot may have used its try
// (it is the fall-back from an earlier trial, and this run took a retry
// without a restart), and with every good slot's try used, GRUB's
// renewal would boot the trial slot a second time.
common::Status Agent::arm(UpdateState& u, Step step) {
  auto boot_id = boot_->boot_id();
  if (!boot_id) return std::unexpected(boot_id.error());
  u.boot_id = *boot_id;
  auto running = boot_->booted_slot();
  if (!running) return std::unexpected(running.error());
  if (*running != u.target_slot) {
    if (auto ok = boot_->mark_good(*running); !ok) return common::propagate(ok, "marking the running slot " + *running + " good");
  }
  if (auto ok = boot_->try_once(u.target_slot); !ok) return common::propagate(ok, "arming the trial boot of slot " + u.target_slot);
  return advance(u, step, "trial boot of slot " + u.target_slot + " armed");
}

common::Result<Agent::Installed> Agent::install(artifacts::ByteSource& source, std::optional<std::int64_t> deployment_id,
                                                bool allow_downgrade, std::optional<std::string> offered_bundle_id,
                                                InstallCheckpoints* checkpoints, const common::Json& activate_window) {
  auto current = state_.update();
  if (!current) return std::unexpected(current.error());
  if (waits_for_reboot(current->state)) {
    return common::fail(Errc::kWaitsForReboot, "an update of " + current->component + " to " + current->version +
                                                     " waits for its trial boot (state " +
                                                     std::string(stage_name(current->state)) +
                                                     "): reboot and commit, or roll it back first");
  }
  auto root = current_root();
  if (!root) return std::unexpected(root.error().with_context("trust root"));
  auto booted = boot_->booted_slot();
  if (!booted) return std::unexpected(booted.error());
  auto boot_id = boot_->boot_id();
  if (!boot_id) return std::unexpected(boot_id.error());
  auto components = state_.components();
  if (!components) return std::unexpected(components.error());
  auto trusted = state_.trusted_time();
  if (!trusted) return std::unexpected(trusted.error());

  UpdateState u{.state = current->state, .deployment_id = deployment_id, .target_slot = other_slot(*booted), .boot_id = *boot_id};
  if (auto ok = set_activation_window(activate_window); !ok) return std::unexpected(ok.error());
  if (auto ok = state_.set_setting("held_for_window", ""); !ok) return std::unexpected(ok.error());
  if (auto ok = advance(u, Step::kStart); !ok) return std::unexpected(ok.error());

  artifacts::DeviceContext device{.device_type = config_.device_type, .allow_downgrade = allow_downgrade};
  for (const auto& [name, c] : *components) {
    if (auto version = common::Version::parse(c.version)) device.installed[name] = {*version, c.security_version};
  }
  // The clock is never taken to be behind the latest trusted time.
  artifacts::VerifyOptions options{.root = &*root, .now = std::max(env_.now(), *trusted), .device = device,
                                   .expected_bundle_id = std::move(offered_bundle_id)};
  // One update at a time: the module work directory starts empty.
  std::error_code ec;
  std::filesystem::remove_all(module_workdir(), ec);
  if (checkpoints) {
    options.on_payload = [checkpoints](std::size_t index, const artifacts::Payload& p, std::optional<std::uint64_t> offset) {
      checkpoints->payload_starts(index, p, offset);
    };
  }
  InstallSinks sinks(config_, u.target_slot, module_workdir(), env_, checkpoints);
  if (!activation_due()) sinks.hold_immediate_effects(describe_activation_window(activate_window));
  auto verified = artifacts::read_bundle(source, options, sinks);
  if (!verified && verified.error().is(Errc::kWaitsForWindow)) {
    // Not refused: taken again when the window opens (nothing was written).
    if (auto ok = state_.set_setting("held_for_window", std::to_string(deployment_id.value_or(0))); !ok) {
      return std::unexpected(ok.error());
    }
    u.error = verified.error().message();
    if (auto ok = advance(u, Step::kCut); !ok) return std::unexpected(ok.error());
    return std::unexpected(verified.error());
  }
  if (!verified && checkpoints && (checkpoints->source_failed() || checkpoints->already_in_slot() > 0)) {
    // The bytes stopped coming, or a resumed download did not verify (the
    // slot's kept bytes may be what changed): neither says anything about
    // the update, which is downloaded again. The inactive slot holds part
    // of an image nothing boots.
    u.error = checkpoints->source_failed()
                  ? "the download was interrupted (" + verified.error().describe() + "); it continues at the next offer"
                  : "the resumed download did not verify (" + verified.error().describe() + "); downloading it again";
    if (auto ok = advance(u, Step::kCut); !ok) return std::unexpected(ok.error());
    return std::unexpected(verified.error());
  }
  if (!verified) {
    u.error = verified.error().describe();
    if (auto ok = advance(u, Step::kRefuse); !ok) return std::unexpected(ok.error());
    return std::unexpected(verified.error());
  }
  const auto& m = verified->manifest;
  u.bundle_id = verified->bundle_id;
  u.component = m.component;
  u.version = m.version.text();
  u.security_version = m.security_version;
  if (auto it = components->find(m.component); it != components->end()) u.previous_version = it->second.version;
  if (auto ok = state_.raise_trusted_time(m.created); !ok) return std::unexpected(ok.error());
  if (auto ok = state_.set_rollback_files(sinks.files()); !ok) return std::unexpected(ok.error());

  auto module = std::find_if(m.payloads.begin(), m.payloads.end(),
                             [](const auto& p) { return p.type == artifacts::PayloadType::kModule; });
  if (module != m.payloads.end()) return install_with_module(u, m, module->module, sinks.files());
  if (!takes_effect_at_reboot(m)) {
    // Files only: in effect already; nothing to try.
    u.target_slot.clear();
    if (auto ok = advance(u, Step::kFilesInPlace); !ok) return std::unexpected(ok.error());
    drop_backups(sinks.files());
    return Installed{u.version, false, ""};
  }
  if (!activation_due()) {
    auto window = describe_activation_window(activate_window);
    if (auto ok = advance(u, Step::kWrite, "written to slot " + u.target_slot + "; waits for its activation window (" + window + ")");
        !ok) {
      return std::unexpected(ok.error());
    }
    return Installed{u.version, true, u.target_slot, true};
  }
  if (auto ok = advance(u, Step::kWrite); !ok) return std::unexpected(ok.error());
  if (auto ok = arm(u, Step::kArm); !ok) return std::unexpected(ok.error());
  return Installed{u.version, true, u.target_slot};
}

common::Result<Agent::Installed> Agent::install_with_module(UpdateState u, const artifacts::Manifest& m,
                                                             const std::string& module_name,
                                                             const std::vector<std::string>& files) {
  // Persisted first: a power cut while the module works makes the next
  // start roll the module back (resume()).
  u.target_slot.clear();
  if (auto ok = state_.set_setting("module", module_name); !ok) return std::unexpected(ok.error());
  if (auto ok = advance(u, Step::kWrite, "update module " + module_name); !ok) return std::unexpected(ok.error());
  UpdateModule module(*config_.modules_dir / module_name, module_workdir(), env_);
  common::Result<bool> reboot = false;
  if (auto ok = module.prepare(m, config_.device_type); !ok) reboot = std::unexpected(ok.error());
  if (reboot) reboot = module.install();
  common::Status done = reboot ? common::Status{} : common::Status(std::unexpected(reboot.error()));
  if (done && *reboot) {
    // The module's change takes effect at the reboot; the commit follows it.
    if (auto ok = advance(u, Step::kArm, "update module " + module_name + " waits for a reboot"); !ok) {
      return std::unexpected(ok.error());
    }
    return Installed{u.version, true, ""};
  }
  if (done) done = module.commit(false);
  if (!done) {
    restore_files(files);
    u.error = done.error().describe();
    if (auto ok = advance(u, Step::kRefuse); !ok) return std::unexpected(ok.error());
    return std::unexpected(done.error());
  }
  if (auto ok = advance(u, Step::kModuleDone); !ok) return std::unexpected(ok.error());
  drop_backups(files);
  return Installed{u.version, false, ""};
}

common::Status Agent::undo(UpdateState u, const std::string& why) {
  if (!u.target_slot.empty()) {
    if (auto ok = boot_->mark_bad(u.target_slot); !ok) return ok;
  } else if (auto name = state_.setting("module"); name && *name && config_.modules_dir) {
    UpdateModule module(*config_.modules_dir / **name, module_workdir(), env_);
    if (module.exists()) module.abandon();
  }
  auto files = state_.rollback_files();
  if (!files) return std::unexpected(files.error());
  restore_files(*files);
  u.error = why;
  return advance(u, Step::kRollBack, why);
}

common::Result<Agent::TrialOutcome> Agent::verify_and_commit() {
  auto u = state_.update();
  if (!u) return std::unexpected(u.error());
  if (u->state != Stage::kRebooting && u->state != Stage::kVerifying) {
    return common::fail(Errc::kNothingToCommit, "no update waits for a commit (state " + std::string(stage_name(u->state)) + ")");
  }
  auto boot_id = boot_->boot_id();
  if (!boot_id) return std::unexpected(boot_id.error());
  if (*boot_id == u->boot_id) {
    return TrialOutcome{Verdict::kNotRebooted, u->target_slot.empty()
                                                   ? "not rebooted yet: the update module's change takes effect at the next boot"
                                                   : "not rebooted yet: the next boot tries slot " + u->target_slot};
  }
  if (u->target_slot.empty()) return verify_module_after_reboot(*u);
  auto booted = boot_->booted_slot();
  if (!booted) return std::unexpected(booted.error());
  if (*booted != u->target_slot) {
    if (u->state == Stage::kVerifying) {
      // The new slot came up (the agent began its checks there), but that
      // boot ended before the verdict: a power cut or a reset, and the
      // bootloader fell back. One more trial; a second such end rolls back.
      auto retried = retry_trial(*u);
      if (!retried) return std::unexpected(retried.error());
      if (*retried) {
        return TrialOutcome{Verdict::kNotRebooted, "the trial boot of slot " + u->target_slot +
                                                       " ended before its checks did; the next boot tries it once more"};
      }
    }
    // The boot counter fell back: the new slot never came up.
    std::string why = "slot " + u->target_slot + " did not come up; running slot " + *booted + " with " + u->component + " " +
                      u->previous_version;
    if (auto ok = undo(*u, why); !ok) return std::unexpected(ok.error());
    return TrialOutcome{Verdict::kRolledBack, why};
  }
  if (auto ok = advance(*u, Step::kBoot); !ok) return std::unexpected(ok.error());
  for (const auto& check : config_.health_checks) {
    if (auto checked = run_check(env_, check); !checked.passed) {
      std::string why = "health check failed: " + checked.detail + "; the next boot returns to slot " + other_slot(u->target_slot);
      if (auto ok = undo(*u, why); !ok) return std::unexpected(ok.error());
      return TrialOutcome{Verdict::kRolledBack, why};
    }
  }
  if (auto ok = boot_->mark_good(u->target_slot); !ok) return common::propagate(ok, "marking slot " + u->target_slot + " good");
  if (auto ok = advance(*u, Step::kPass); !ok) return std::unexpected(ok.error());
  auto files = state_.rollback_files();
  if (files) drop_backups(*files);
  return TrialOutcome{Verdict::kCommitted, u->component + " " + u->version + " committed in slot " + u->target_slot};
}

common::Result<bool> Agent::retry_trial(UpdateState& u) {
  std::string trial = u.bundle_id + "@" + std::to_string(u.deployment_id.value_or(0)) + "/" + u.target_slot;
  auto retried = state_.setting("trial_retried");
  if (!retried) return std::unexpected(retried.error());
  if (*retried && **retried == trial) return false;
  // The mark follows the arming: a cut between the two costs at most one
  // more retry, never the one owed.
  if (auto ok = arm(u, Step::kRetryTrial); !ok) return std::unexpected(ok.error());
  if (auto ok = state_.set_setting("trial_retried", trial); !ok) return std::unexpected(ok.error());
  return true;
}

common::Result<Agent::TrialOutcome> Agent::verify_module_after_reboot(UpdateState u) {
  auto name = state_.setting("module");
  if (!name) return std::unexpected(name.error());
  if (!*name || !config_.modules_dir) return common::fail(Errc::kModuleMissing, "the update module of this update is unknown");
  if (auto ok = advance(u, Step::kBoot); !ok) return std::unexpected(ok.error());
  UpdateModule module(*config_.modules_dir / **name, module_workdir(), env_);
  common::Status ok = {};
  for (const auto& check : config_.health_checks) {
    if (auto checked = run_check(env_, check); !checked.passed) {
      ok = common::fail(common::Errc::kIo, "health check failed: " + checked.detail);
      module.abandon();
      break;
    }
  }
  if (ok) ok = module.commit(true);
  if (!ok) {
    std::string why = ok.error().message();
    auto files = state_.rollback_files();
    if (files) restore_files(*files);
    u.error = why;
    if (auto saved = advance(u, Step::kRollBack, why); !saved) return std::unexpected(saved.error());
    return TrialOutcome{Verdict::kRolledBack, why};
  }
  if (auto saved = advance(u, Step::kPass); !saved) return std::unexpected(saved.error());
  return TrialOutcome{Verdict::kCommitted, u.component + " " + u.version + " committed by update module " + **name};
}

common::Status Agent::rollback(const std::string& why) {
  auto u = state_.update();
  if (!u) return std::unexpected(u.error());
  if (!waits_for_reboot(u->state)) {
    return common::fail(Errc::kNothingToRollBack, "nothing to roll back (state " + std::string(stage_name(u->state)) + ")");
  }
  return undo(*u, why);
}

common::Result<signing::TrustRoot> Agent::current_root() {
  auto root = signing::TrustRoot::load(config_.trust_root.string());
  if (!root) return std::unexpected(root.error());
  for (;;) {
    auto next_path = config_.state_dir / "roots" / (std::to_string(root->version() + 1) + ".root.json");
    if (!std::filesystem::exists(next_path)) return root;
    auto text = common::read_file(next_path, 1 << 20);
    if (!text) return std::unexpected(text.error());
    auto next = root->rotate_to(*text);
    if (!next) return std::unexpected(next.error().with_context(next_path.string()));
    root = std::move(next);
  }
}

common::Result<std::int64_t> Agent::accept_root(std::string_view envelope_json) {
  auto root = current_root();
  if (!root) return std::unexpected(root.error());
  auto next = root->rotate_to(envelope_json);
  if (!next) return std::unexpected(next.error());
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir / "roots", ec);
  auto path = config_.state_dir / "roots" / (std::to_string(next->version()) + ".root.json");
  if (auto ok = common::write_file_atomic(path, envelope_json, 0644); !ok) return std::unexpected(ok.error());
  return next->version();
}

common::Result<common::Json> Agent::status() {
  auto booted = boot_->booted_slot();
  if (!booted) return std::unexpected(booted.error());
  auto components = state_.components();
  if (!components) return std::unexpected(components.error());
  auto u = state_.update();
  if (!u) return std::unexpected(u.error());
  auto outbox = state_.outbox_size();
  if (!outbox) return std::unexpected(outbox.error());
  common::Json out = {{"booted_slot", *booted}, {"components", common::Json::object()}, {"outbox", *outbox}};
  for (const auto& [name, c] : *components) {
    out["components"][name] = {{"version", c.version}, {"security_version", c.security_version}};
  }
  out["deployment"] = u->deployment_id ? common::Json{{"id", *u->deployment_id}, {"state", stage_name(u->state)}} : common::Json(nullptr);
  out["update"] = {{"state", stage_name(u->state)},         {"component", u->component},   {"version", u->version},
                   {"target_slot", u->target_slot}, {"previous_version", u->previous_version}, {"updated_at", u->updated_at}};
  out["last_error"] = u->error.empty() ? common::Json(nullptr) : common::Json(u->error);
  // What a written update waits for before the device switches to it.
  auto window = activation_window();
  bool waiting = (u->state == Stage::kInstalled || u->state == Stage::kRebooting || held_for_window(u->deployment_id.value_or(-1))) &&
                 window && window->is_object() && !activation_due();
  out["activate_window"] = waiting ? *window : common::Json(nullptr);
  // Where an interrupted download would go on from (docs/agent.md, "Power cuts").
  auto point = load_resume_point(state_);
  out["resume"] = point && *point ? common::Json{{"deployment_id", (*point)->deployment_id},
                                                 {"target_slot", (*point)->target_slot},
                                                 {"written", (*point)->written}}
                                  : common::Json(nullptr);
  auto root = current_root();
  out["root_version"] = root ? common::Json(root->version()) : common::Json(nullptr);
  return out;
}

}  // namespace flotilla::client
