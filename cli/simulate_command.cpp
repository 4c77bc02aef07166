// flotilla policy simulate POLICY --fleet FLEET.json: the engine over a
// described fleet with a simulated clock, a rehearsal before real devices.
#include <iostream>

#include "cli/command.hpp"
#include "cli/table.hpp"
#include "common/file.hpp"
#include "policy/fleet.hpp"
#include "policy/simulation.hpp"

namespace flotilla::cli {

namespace {

constexpr std::size_t kMaxFleetBytes = std::size_t{256} << 20;
common::Result<common::Json> read_json_file(const std::string& path, std::size_t limit) {
  auto text = common::read_file(path, limit);
  if (!text) return std::unexpected(text.error());
  auto doc = common::parse_json_strict(*text, {.max_bytes = limit, .max_depth = 16});
  if (!doc) return std::unexpected(doc.error().with_context(path));
  return doc;
}

std::string offset_text(std::chrono::seconds d) {
  auto h = d.count() / 3600, m = d.count() % 3600 / 60;
  return "+" + std::to_string(h / 24) + "d" + (h % 24 < 10 ? "0" : "") + std::to_string(h % 24) + "h" + (m < 10 ? "0" : "") +
         std::to_string(m) + "m";
}

}  // namespace

void add_simulate_command(CLI::App& policy_group, int& exit_code) {
  struct Options {
    std::string policy_file, fleet_file, component, start;
    double failure_rate = 0;
    std::uint64_t seed = 1;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* simulate = policy_group.add_subcommand(
      "simulate", "Rehearse a rollout: run the engine over a described fleet with a simulated clock and print the timeline");
  simulate->add_option("POLICY", o->policy_file, "Rollout policy JSON")->required();
  simulate->add_option("--fleet", o->fleet_file,
                       "JSON array of {\"id\", \"type\", \"labels\": {}, \"versions\": {component: version}}")
      ->required();
  simulate->add_option("--failure-rate", o->failure_rate, "Chance that one device attempt fails")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  simulate->add_option("--seed", o->seed, "Seed for install times and failures: the same seed, the same run")
      ->capture_default_str();
  simulate->add_option("--component", o->component, "Component the bundle updates (default: the policy's bundle name)");
  simulate->add_option("--start", o->start, "RFC 3339 time the rollout is created (default: not_before, else now)");
  simulate->add_flag("--json", o->json,
                     "Print {\"waves\": [{\"name\", \"devices\"}], \"skipped\", \"blocked\", \"timeline\"} as JSON");
  on_run(*simulate, exit_code, [o]() -> int {
    auto policy_doc = read_json_file(o->policy_file, 1 << 20);
    if (!policy_doc) return report_failure(policy_doc.error());
    auto parsed = policy::parse_rollout_policy(*policy_doc);
    if (!parsed) {
      std::cerr << o->policy_file << ": " << parsed.error().size() << " error(s)\n";
      for (const auto& e : parsed.error()) std::cerr << "  " << (e.pointer.empty() ? "(document)" : e.pointer) << ": " << e.message << "\n";
      return kExitFailed;
    }
    auto fleet_doc = read_json_file(o->fleet_file, kMaxFleetBytes);
    if (!fleet_doc) return report_failure(fleet_doc.error());
    auto fleet = policy::parse_fleet(*fleet_doc);
    if (!fleet) return report_failure(fleet.error().with_context(o->fleet_file));

    policy::SimulationOptions options{.failure_rate = o->failure_rate, .seed = o->seed, .start = common::now_utc()};
    if (parsed->schedule.not_before) options.start = *parsed->schedule.not_before;
    if (!o->start.empty()) {
      auto start = common::parse_rfc3339(o->start);
      if (!start) return report_usage("--start: " + start.error().message());
      options.start = *start;
    }
    options.start = std::chrono::floor<std::chrono::seconds>(options.start);
    policy::BundleFacts bundle{o->component.empty() ? parsed->bundle.name : o->component, parsed->bundle.version, {}};
    auto result = policy::simulate(*parsed, bundle, std::move(*fleet), options);

    common::Json waves = common::Json::array();
    for (const auto& w : parsed->waves) waves.push_back({{"name", w.name}, {"devices", common::Json::array()}});
    common::Json skipped = common::Json::array(), blocked = common::Json::array(), timeline = common::Json::array();
    for (const auto& p : result.placements) {
      if (p.membership == policy::Membership::kSkipped) skipped.push_back({{"id", std::string(p.device_id)}, {"reason", p.reason}});
      if (p.membership == policy::Membership::kBlocked) blocked.push_back({{"id", std::string(p.device_id)}, {"reason", p.reason}});
      if (p.membership == policy::Membership::kEligible && p.wave) waves[static_cast<std::size_t>(*p.wave)]["devices"].push_back(std::string(p.device_id));
    }
    for (const auto& t : result.timeline) timeline.push_back({{"at", common::format_rfc3339(t.at)}, {"event", t.event}});
    if (o->json) {
      std::cout << common::Json{{"waves", waves},       {"skipped", skipped},           {"blocked", blocked},
                                {"timeline", timeline}, {"outcome", result.outcome},    {"succeeded", result.succeeded},
                                {"failed", result.failed}, {"offers", result.offers}}
                       .dump(2)
                << "\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& w : waves) rows.push_back({w["name"].get<std::string>(), std::to_string(w["devices"].size())});
      print_table(std::cout, {"WAVE", "DEVICES"}, rows);
      std::cout << "skipped " << skipped.size() << ", blocked " << blocked.size() << "\n\n";
      for (const auto& t : result.timeline) {
        std::cout << offset_text(std::chrono::duration_cast<std::chrono::seconds>(t.at - options.start)) << "  "
                  << common::format_rfc3339(t.at) << "  " << t.event << "\n";
      }
      std::cout << "\noutcome: " << result.outcome << " (" << result.succeeded << " succeeded, " << result.failed
                << " failed, " << result.offers << " offers)\n";
    }
    // A rehearsal that stops on the guard is a finding, not a tool failure.
    return kExitOk;
  });
}

}  // namespace flotilla::cli
