// flotilla rollouts: create, dry-run, list, status [--watch], pause,
// resume, approve, abort [--rollback].
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/table.hpp"
#include "common/file.hpp"

namespace flotilla::cli {

namespace {

constexpr std::size_t kMaxPolicyBytes = 1 << 20;

std::string bar(std::int64_t done, std::int64_t failed, std::int64_t total, int width = 30) {
  if (total <= 0) return "[" + std::string(static_cast<std::size_t>(width), ' ') + "]";
  auto cells = [&](std::int64_t n) { return static_cast<std::size_t>(n * width / total); };
  std::size_t ok = cells(done), bad = cells(failed);
  std::size_t rest = static_cast<std::size_t>(width) - std::min<std::size_t>(static_cast<std::size_t>(width), ok + bad);
  return "[" + std::string(ok, '#') + std::string(bad, 'x') + std::string(rest, '.') + "]";
}

// The state line and one progress bar per wave.
std::string render_status(const common::Json& r) {
  std::ostringstream out;
  const auto& s = r["status"];
  out << "rollout " << json_text(r, "id") << " " << json_text(r, "name") << ": " << json_text(r, "state");
  if (!r.value("reason", "").empty()) out << " (" << r["reason"].get<std::string>() << ")";
  out << "\n";
  if (!s.contains("waves")) {
    out << "  not evaluated yet\n";
    return out.str();
  }
  for (const auto& w : s["waves"]) {
    std::int64_t eligible = w["eligible"], succeeded = w["succeeded"], failed = w["failed"];
    out << "  " << (w["open"].get<bool>() ? "*" : " ") << " " << json_text(w, "name");
    out << std::string(w["name"].get<std::string>().size() < 10 ? 10 - w["name"].get<std::string>().size() : 1, ' ');
    out << bar(succeeded, failed, eligible) << " " << succeeded << " ok, " << failed << " failed, "
        << w["in_progress"].get<std::int64_t>() << " in progress, " << w["pending"].get<std::int64_t>() << " waiting of "
        << eligible;
    if (w.value("manual_approval", false)) out << (w.value("approved", false) ? "  approved" : "  needs approval");
    out << "\n";
  }
  out << "  skipped " << json_text(s, "skipped") << ", blocked " << json_text(s, "blocked");
  if (s.value("interruptions", 0) > 0) {
    // Power or network cuts the devices rode out: not failures.
    out << ", interrupted " << json_text(s, "interruptions") << " times on " << json_text(s, "interrupted_devices")
        << " devices";
  }
  if (s.contains("wake_at")) out << ", soak ends " << s["wake_at"].get<std::string>();
  if (!s.value("held_by", "").empty()) out << ", held: " << s["held_by"].get<std::string>();
  out << "\n";
  return out.str();
}

void print_plan(const common::Json& j) {
  std::cout << "dry run as rollout " << json_text(j, "rollout_id") << " (bucketing depends on the id)\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& w : j["waves"]) {
    std::string first;
    for (std::size_t i = 0; i < w["devices"].size() && i < 3; ++i) {
      first += (i ? " " : "") + w["devices"][i].get<std::string>().substr(0, 12);
    }
    if (w["devices"].size() > 3) first += " ...";
    rows.push_back({json_text(w, "name"), json_text(w, "count"), first.empty() ? "-" : first});
  }
  print_table(std::cout, {"WAVE", "DEVICES", "FIRST"}, rows);
  for (const char* group : {"skipped", "blocked"}) {
    std::cout << group << ": " << json_text(j, (std::string(group) + "_count").c_str()) << "\n";
    std::size_t shown = 0;
    for (const auto& d : j[group]) {
      if (++shown > 10) {
        std::cout << "  ...\n";
        break;
      }
      std::cout << "  " << json_text(d, "id").substr(0, 16) << "  " << json_text(d, "reason") << "\n";
    }
  }
  std::cout << "outside the target: " << json_text(j, "outside_target") << ", offered at once: " << json_text(j, "would_offer_now")
            << "\n";
}

}  // namespace

void add_rollout_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  auto* rollouts = app.add_subcommand("rollouts", "Staged rollouts under a policy (docs/policy.md)");
  rollouts->require_subcommand(1);
  struct Options {
    std::string file, id, wave;
    bool watch = false, rollback = false, compliance = false;
    double interval = 2;
  };
  auto o = std::make_shared<Options>();
  auto policy_request = [&server, o](const std::string& path, const std::function<void(const common::Json&)>& show) {
    auto text = common::read_file(o->file, kMaxPolicyBytes);
    if (!text) return report_failure(text.error());
    return call(server, "POST", path, *text, show);
  };

  auto* create = rollouts->add_subcommand("create", "Start a rollout from a policy file (check it first with dry-run)");
  create->add_option("FILE", o->file, "Rollout policy JSON")->required();
  on_run(*create, exit_code, [policy_request] {
    return policy_request("/api/v1/rollouts", [](const common::Json& j) {
      std::cout << "rollout " << json_text(j, "id") << " created: " << json_text(j, "name") << " (" << json_text(j, "state")
                << "); follow it with `flotilla rollouts status " << json_text(j, "id") << " --watch`\n";
    });
  });
  auto* dry_run = rollouts->add_subcommand("dry-run", "Show who would be in which wave, and who is skipped or blocked and why");
  dry_run->add_option("FILE", o->file, "Rollout policy JSON")->required();
  on_run(*dry_run, exit_code, [policy_request] { return policy_request("/api/v1/rollouts/dry-run", print_plan); });

  auto* list = rollouts->add_subcommand("list", "List rollouts, newest first");
  on_run(*list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/rollouts", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& r : j["rollouts"]) {
        std::string wave = "-";
        for (const auto& w : r["status"].value("waves", common::Json::array())) {
          if (w["open"].get<bool>()) wave = w["name"].get<std::string>();
        }
        rows.push_back({json_text(r, "id"), json_text(r, "name"), json_text(r, "state"), wave, json_text(r, "created_at"),
                        json_text(r, "reason")});
      }
      print_table(std::cout, {"ID", "NAME", "STATE", "WAVE", "CREATED", "REASON"}, rows);
    });
  });

  auto* status = rollouts->add_subcommand("status", "A rollout's state and per-wave progress");
  status->add_option("ID", o->id, "Rollout id")->required();
  status->add_flag("--watch", o->watch, "Redraw until the rollout completes or is aborted (Ctrl-C stops watching only)");
  status->add_option("--interval", o->interval, "Seconds between redraws with --watch")
      ->check(CLI::Range(0.2, 3600.0))
      ->capture_default_str();
  status->add_flag("--compliance", o->compliance,
                   "Also the compliance status of the devices it placed (the same function as every report)");
  on_run(*status, exit_code, [&server, o]() -> int {
    if (!o->watch) {
      int code = call(server, "GET", "/api/v1/rollouts/" + o->id, "", [](const common::Json& j) { std::cout << render_status(j); });
      if (code != kExitOk || !o->compliance) return code;
      return call(server, "GET", "/api/v1/compliance/summary?rollout=" + url_encode(o->id), "", [](const common::Json& j) {
        std::cout << "compliance of its devices (highest published release):";
        for (const auto& [name, n] : j["summary"]["by_status"].items()) {
          if (n.get<std::int64_t>() > 0) std::cout << " " << name << "=" << n.get<std::int64_t>();
        }
        std::cout << "\n";
      });
    }
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    bool terminal = ::isatty(STDOUT_FILENO) == 1;
    std::string last;
    for (;;) {
      auto response = client->request("GET", "/api/v1/rollouts/" + o->id);
      if (!response) return report_failure(response.error());
      if (!response->ok()) return report_api_error(*response);
      auto j = response->json();
      std::string frame = server.json ? j.dump() + "\n" : render_status(j);
      if (frame != last) {
        // On a terminal the frame is redrawn in place; in a pipe each
        // change is printed once.
        if (terminal && !server.json) std::cout << "\x1b[H\x1b[2J";
        std::cout << frame << std::flush;
        last = frame;
      }
      std::string state = j.value("state", "");
      if (state == "completed") return kExitOk;
      if (state == "aborted") return kExitFailed;
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<std::int64_t>(o->interval * 1000)));
    }
  });

  auto simple = [&](const char* name, const char* help, const char* verb) {
    auto* command = rollouts->add_subcommand(name, help);
    command->add_option("ID", o->id, "Rollout id")->required();
    return std::pair{command, std::string(verb)};
  };
  for (auto [command, verb] : {simple("pause", "Stop offering the update (offers not yet fetched are taken back)", "pause"),
                               simple("resume", "Continue a paused rollout; failures so far count as seen by the guard", "resume")}) {
    on_run(*command, exit_code, [&server, o, verb] {
      return call(server, "POST", "/api/v1/rollouts/" + o->id + "/" + verb, "",
                  [](const common::Json& j) { std::cout << "rollout " << json_text(j, "id") << " is " << json_text(j, "state") << "\n"; });
    });
  }
  auto* approve = rollouts->add_subcommand("approve", "Approve the wave that waits for an operator (or --wave NAME in advance)");
  approve->add_option("ID", o->id, "Rollout id")->required();
  approve->add_option("--wave", o->wave, "The wave to approve, by name");
  on_run(*approve, exit_code, [&server, o] {
    std::string body = o->wave.empty() ? "" : common::Json{{"wave", o->wave}}.dump();
    return call(server, "POST", "/api/v1/rollouts/" + o->id + "/approve", body, [](const common::Json& j) {
      std::cout << "rollout " << json_text(j, "rollout_id") << ": wave " << json_text(j, "approved_wave") << " approved\n";
    });
  });
  auto* abort = rollouts->add_subcommand("abort", "Stop the rollout for good; nothing more is offered");
  abort->add_option("ID", o->id, "Rollout id")->required();
  abort->add_flag("--rollback", o->rollback, "Offer the policy's on_abort.rollback_bundle to devices that took the update");
  on_run(*abort, exit_code, [&server, o] {
    return call(server, "POST", "/api/v1/rollouts/" + o->id + "/abort", common::Json{{"rollback", o->rollback}}.dump(),
                [](const common::Json& j) {
                  std::cout << "rollout " << json_text(j, "id") << " is " << json_text(j, "state");
                  if (!j["rollback_deployment_id"].is_null()) std::cout << "; rollback deployment " << json_text(j, "rollback_deployment_id");
                  std::cout << "\n";
                });
  });
}

}  // namespace flotilla::cli
