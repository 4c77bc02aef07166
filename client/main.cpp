// flotilla-agent: the device agent: run (the daemon), install, status,
// commit, rollback and, for the file bootloader, boot. Exit codes: 0 done,
// 1 refused or failed (nothing changed), 2 usage; `run` also exits with
// the configured reboot code when reboot mode is "exit".
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "artifacts/stream.hpp"
#include "client/activation_window.hpp"
#include "client/agent.hpp"
#include "client/daemon.hpp"
#include "client/idle_rest.hpp"
#include "common/log.hpp"

namespace {

using namespace flotilla;

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

std::atomic<bool> stop_requested{false};
extern "C" void on_stop_signal(int) { stop_requested = true; }

int fail(const common::Error& error) {
  std::cerr << "flotilla-agent: " << error.describe() << "\n";
  return kExitFailed;
}

common::Result<std::unique_ptr<client::Agent>> open_agent(const std::string& config_path) {
  auto config = client::load_agent_config(config_path);
  if (!config) return std::unexpected(config.error());
  return client::Agent::open(std::move(*config));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flotilla-agent: installs signed Flotilla bundles on this device, A/B with automatic rollback.\n"
               "Exit codes: 0 done, 1 refused or failed (nothing changed), 2 usage error.",
               "flotilla-agent"};
  app.require_subcommand(1);
  std::string config_path = "/etc/flotilla/agent.json";
  std::string bundle;
  bool json = false, allow_downgrade = false;
  auto add_config = [&](CLI::App* command) {
    command->add_option("--config", config_path, "Agent configuration (JSON)")->capture_default_str();
  };
  bool once = false, rest_in_process = false;
  int backoff_s = 0;
  auto* run = app.add_subcommand("run", "The daemon: enroll, poll, install offered updates, reboot, commit or roll back, "
                                        "report; stops cleanly between steps on SIGTERM");
  run->add_flag("--once", once, "One round (commit after a trial boot, inventory, events, poll, install), then exit");
  run->add_flag("--rest-in-process", rest_in_process,
                "Sleep between polls in this process instead of in flotilla-agent-wait (keeps every library "
                "mapped; for debugging)");
  // Carried by flotilla-agent-wait from one cycle's process to the next.
  run->add_option("--backoff-s", backoff_s)->check(CLI::Range(0, 400 * 24 * 3600))->group("");
  add_config(run);
  auto* install = app.add_subcommand("install", "Verify a bundle and install it into the inactive slot, arming a trial boot");
  install->add_option("FILE", bundle, "Bundle file (.flb), or - for standard input")->required();
  install->add_flag("--allow-downgrade", allow_downgrade, "Accept a lower version (never a lower security version)");
  add_config(install);
  auto* status = app.add_subcommand("status", "Booted slot, installed versions, the update in progress, queued events");
  status->add_flag("--json", json, "Print JSON");
  add_config(status);
  auto* commit = app.add_subcommand(
      "commit", "After the trial boot: check the slot and the health checks, then commit (exit 1 and roll back if they fail)");
  add_config(commit);
  auto* rollback = app.add_subcommand("rollback", "Undo the update waiting for or in its trial boot");
  add_config(rollback);
  auto* boot = app.add_subcommand(
      "boot", "Simulated devices: do what the boot firmware does at power-on (pick the slot by order and tries left)");
  add_config(boot);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (boot->parsed()) {
    auto config = client::load_agent_config(config_path);
    if (!config) return fail(config.error());
    auto bootloader = client::open_bootloader(*config);
    if (!bootloader) return fail(bootloader.error());
    auto slot = (*bootloader)->power_on();
    if (!slot) return fail(slot.error());
    std::cout << "booted slot " << *slot << "\n";
    return kExitOk;
  }
  auto agent = open_agent(config_path);
  if (!agent) return fail(agent.error());
  if (run->parsed()) {
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    auto waiter = rest_in_process || once ? std::nullopt : client::find_idle_waiter();
    client::Daemon::RunEnd end;
    {
      auto daemon = client::Daemon::open(**agent);
      if (!daemon) return fail(daemon.error());
      end = (*daemon)->run(stop_requested, {.once = once,
                                            .backoff = std::chrono::seconds(backoff_s),
                                            .rest_elsewhere = waiter.has_value()});
    }
    if (!end.rest) return end.exit_code;
    // Close the state database and the server connection before the rest.
    agent->reset();
    std::fflush(nullptr);
    // A stop asked for from here on stays pending across the exec: the
    // waiter unblocks it once its handler is in place.
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, nullptr);
    if (stop_requested) return kExitOk;
    auto error = client::rest_in_waiter(*waiter, *end.rest,
                                        {"run", "--config", config_path, "--backoff-s", std::to_string(end.backoff.count())});
    return fail(error);
  }
  if (install->parsed()) {
    auto source = artifacts::FileSource::open(bundle);
    if (!source) return fail(source.error());
    auto done = (*agent)->install(**source, std::nullopt, allow_downgrade);
    if (!done) return fail(done.error());
    if (done->needs_reboot && done->target_slot.empty()) {
      std::cout << "installed " << done->version << " through its update module; reboot, then run `flotilla-agent commit`\n";
    } else if (done->needs_reboot) {
      std::cout << "installed " << done->version << " into slot " << done->target_slot
                << "; reboot to try it, then run `flotilla-agent commit`\n";
    } else {
      std::cout << "installed and committed " << done->version << "\n";
    }
    return kExitOk;
  }
  if (status->parsed()) {
    auto view = (*agent)->status();
    if (!view) return fail(view.error());
    if (json) {
      std::cout << view->dump(2) << "\n";
      return kExitOk;
    }
    std::cout << "booted slot: " << (*view)["booted_slot"].get<std::string>() << "\n";
    for (const auto& [name, c] : (*view)["components"].items()) {
      std::cout << "  " << name << " " << c["version"].get<std::string>() << " (security version "
                << c["security_version"] << ")\n";
    }
    const auto& u = (*view)["update"];
    std::cout << "update: " << u["state"].get<std::string>();
    if (!u["component"].get<std::string>().empty()) {
      std::cout << " — " << u["component"].get<std::string>() << " " << u["version"].get<std::string>();
      if (!u["target_slot"].get<std::string>().empty()) std::cout << " in slot " << u["target_slot"].get<std::string>();
    }
    if (!(*view)["activate_window"].is_null()) {
      std::cout << ", waits for its activation window (" << client::describe_activation_window((*view)["activate_window"]) << ")";
    }
    std::cout << "\nqueued events: " << (*view)["outbox"] << "\n";
    if (!(*view)["last_error"].is_null()) std::cout << "last error: " << (*view)["last_error"].get<std::string>() << "\n";
    return kExitOk;
  }
  if (commit->parsed()) {
    auto outcome = (*agent)->verify_and_commit();
    if (!outcome) return fail(outcome.error());
    switch (outcome->verdict) {
      case client::Agent::Verdict::kCommitted:
        std::cout << outcome->detail << "\n";
        return kExitOk;
      case client::Agent::Verdict::kNotRebooted:
        std::cerr << "flotilla-agent: " << outcome->detail << "\n";
        return kExitFailed;
      case client::Agent::Verdict::kRolledBack:
        std::cerr << "flotilla-agent: rolled back: " << outcome->detail << "\n";
        return kExitFailed;
    }
  }
  if (rollback->parsed()) {
    if (auto ok = (*agent)->rollback("rolled back by hand"); !ok) return fail(ok.error());
    std::cout << "rolled back; the next boot returns to the previous slot\n";
    return kExitOk;
  }
  return kExitUsage;
}
