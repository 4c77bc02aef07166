// flotilla-fleet-sim: many virtual devices in one process, each running the
// real agent code (docs/fleet-sim.md). Prints a live line of counts by
// state and ends with a summary (JSON with --json).
// Exit codes: 0 ran to the end (or was stopped), 1 could not start, 2 usage.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <random>
#include <unistd.h>

#include "common/decimal.hpp"
#include "common/file.hpp"
#include "common/log.hpp"
#include "common/semver.hpp"
#include "common/time.hpp"
#include "sim/fleet.hpp"

namespace {

std::atomic<bool> stop_requested = false;
extern "C" void on_stop_signal(int) { stop_requested = true; }

using namespace flotilla;

// "gw-x1:70,gw-x2:30" -> weighted choices. Names must be non-empty,
// weights positive integers.
std::optional<std::vector<std::pair<std::string, std::uint64_t>>> parse_weights(const std::string& text) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto colon = item.rfind(':');
    std::uint64_t weight = 1;
    std::string name = item;
    if (colon != std::string::npos) {
      name = item.substr(0, colon);
      if (!common::parse_decimal(item.substr(colon + 1), weight, 9) || weight == 0) return std::nullopt;
    }
    if (name.empty()) return std::nullopt;
    out.emplace_back(name, weight);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

const std::string& pick(const std::vector<std::pair<std::string, std::uint64_t>>& choices, std::mt19937_64& rng) {
  std::uint64_t total = 0;
  for (const auto& c : choices) total += c.second;
  auto roll = std::uniform_int_distribution<std::uint64_t>(0, total - 1)(rng);
  for (const auto& c : choices) {
    if (roll < c.second) return c.first;
    roll -= c.second;
  }
  return choices.back().first;
}

struct Options {
  std::string server, token_file, operator_token_file, trust_root, dir = "fleet-sim", modules_dir;
  int devices = 100, threads = 8;
  std::string types = "gw-x1", labels, poll_interval = "30s", duration = "5m", offline_from = "0s", offline_for = "2m";
  std::vector<std::string> initial = {"rootfs=2.3.0"};
  double health_fail = 0, crash_loop = 0, net_cut = 0, offline = 0, tamper = 0, clock_skew = 0;
  std::string bad_version;
  int gateways = 0, children_per_gateway = 0;
  std::string child_types = "mcu-a", gateway_type = "gw-x1", gateway_token_file;
  double child_fail = 0, child_offline = 0;
  std::uint64_t seed = 1, slot_mib = 64;
  bool json = false;
};

int usage(const std::string& message) {
  std::cerr << "flotilla-fleet-sim: usage: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("flotilla-fleet-sim: virtual devices running the real agent against a server", "flotilla-fleet-sim");
  Options o;
  app.add_option("--server", o.server, "The server's URL (http://127.0.0.1:PORT)")->required();
  app.add_option("--enrollment-token-file", o.token_file, "An enrollment token for every device")->required()->check(CLI::ExistingFile);
  app.add_option("--trust-root", o.trust_root, "The root.json devices trust (as from the factory)")->required()->check(CLI::ExistingFile);
  app.add_option("--devices", o.devices, "How many devices (besides --gateways)")->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--types", o.types, "Device types with weights, e.g. gw-x1:70,gw-x2:30")->capture_default_str();
  app.add_option("--labels", o.labels,
                 "Labels with weights per key, e.g. region=eu:50,region=us:50 (applied with --operator-token-file)");
  app.add_option("--operator-token-file", o.operator_token_file, "An operator API token, to apply --labels")->check(CLI::ExistingFile);
  app.add_option("--initial", o.initial, "What the factory image runs, COMPONENT=VERSION (first = the one counted)")->capture_default_str();
  app.add_option("--poll-interval", o.poll_interval, "How often each device polls")->capture_default_str();
  app.add_option("--duration", o.duration, "How long to run")->capture_default_str();
  app.add_option("--dir", o.dir, "Where the devices' state, slots and files live")->capture_default_str();
  app.add_option("--slot-size", o.slot_mib, "Size of each device's file slots in MiB (sparse files)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--modules-dir", o.modules_dir, "Update modules for module payloads")->check(CLI::ExistingDirectory);
  app.add_option("--threads", o.threads, "Worker threads stepping devices")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--health-fail", o.health_fail, "Share of devices whose new version fails its health check")->check(CLI::Range(0.0, 1.0));
  app.add_option("--crash-loop", o.crash_loop, "Share of devices whose new slot never comes up")->check(CLI::Range(0.0, 1.0));
  app.add_option("--net-cut", o.net_cut, "Share of devices whose downloads are cut mid-stream (and resumed)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--offline", o.offline, "Share of devices unreachable from --offline-from for --offline-for")->check(CLI::Range(0.0, 1.0));
  app.add_option("--offline-from", o.offline_from, "When the offline devices drop off")->capture_default_str();
  app.add_option("--offline-for", o.offline_for, "How long they stay off")->capture_default_str();
  app.add_option("--tamper", o.tamper, "Share of devices whose tamper check fails")->check(CLI::Range(0.0, 1.0));
  app.add_option("--clock-skew", o.clock_skew, "Share of devices whose clock is a day behind")->check(CLI::Range(0.0, 1.0));
  app.add_option("--bad-version", o.bad_version, "Tie --health-fail and --crash-loop to this version (default: any new one)");
  app.add_option("--gateways", o.gateways, "Field gateways besides --devices, each serving simulated MCUs (docs/gateway.md)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--children-per-gateway", o.children_per_gateway, "Children behind each gateway")->check(CLI::Range(0, 1000));
  app.add_option("--child-types", o.child_types, "Child device types with weights, e.g. mcu-a:80,mcu-b:20")->capture_default_str();
  app.add_option("--child-fail", o.child_fail, "Share of children whose flashing fails")->check(CLI::Range(0.0, 1.0));
  app.add_option("--child-offline", o.child_offline, "Share of children unreachable until --offline-from + --offline-for")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--gateway-type", o.gateway_type, "The gateways' device type")->capture_default_str();
  app.add_option("--gateway-enrollment-token-file", o.gateway_token_file,
                 "An enrollment token made with --gateway, for the gateways (default: --enrollment-token-file)")
      ->check(CLI::ExistingFile);
  app.add_option("--seed", o.seed, "Seed for who gets which type, label and fault")->capture_default_str();
  app.add_flag("--json", o.json, "Print the summary as JSON");
  CLI11_PARSE(app, argc, argv);

  auto poll = common::parse_duration(o.poll_interval);
  auto duration = common::parse_duration(o.duration);
  auto offline_from = common::parse_duration(o.offline_from);
  auto offline_for = common::parse_duration(o.offline_for);
  if (!poll || *poll < std::chrono::seconds(1)) return usage("--poll-interval: a duration of at least 1s, e.g. 30s");
  if (!duration) return usage("--duration: a duration, e.g. 5m");
  if (!offline_from || !offline_for) return usage("--offline-from/--offline-for: durations, e.g. 2m");
  auto types = parse_weights(o.types);
  if (!types) return usage("--types: NAME:WEIGHT,... with positive integer weights");
  auto child_types = parse_weights(o.child_types);
  if (!child_types) return usage("--child-types: NAME:WEIGHT,... with positive integer weights");
  if ((o.gateways > 0) != (o.children_per_gateway > 0)) return usage("--gateways and --children-per-gateway go together");
  if (o.devices + o.gateways == 0) return usage("nothing to simulate: --devices or --gateways");
  std::map<std::string, std::vector<std::pair<std::string, std::uint64_t>>> labels;  // key -> values
  if (!o.labels.empty()) {
    auto parsed = parse_weights(o.labels);
    if (!parsed) return usage("--labels: KEY=VALUE:WEIGHT,...");
    for (const auto& [pair, weight] : *parsed) {
      auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) return usage("--labels: KEY=VALUE:WEIGHT,...");
      labels[pair.substr(0, eq)].emplace_back(pair.substr(eq + 1), weight);
    }
    if (o.operator_token_file.empty()) return usage("--labels needs --operator-token-file (labels are an operator's to set)");
  }

  sim::FleetSettings settings;
  settings.server_url = o.server;
  settings.root_dir = std::filesystem::absolute(o.dir);
  settings.trust_root = std::filesystem::absolute(o.trust_root);
  settings.enrollment_token_file = std::filesystem::absolute(o.token_file);
  if (!o.modules_dir.empty()) settings.modules_dir = std::filesystem::absolute(o.modules_dir);
  if (!o.gateway_token_file.empty()) settings.gateway_enrollment_token_file = std::filesystem::absolute(o.gateway_token_file);
  settings.poll_interval = *poll;
  settings.slot_bytes = o.slot_mib << 20;
  settings.offline_from = *offline_from;
  settings.offline_for = *offline_for;
  settings.seed = o.seed;
  if (!o.bad_version.empty()) settings.bad_version = o.bad_version;
  if (!o.operator_token_file.empty()) {
    auto token = common::read_file(o.operator_token_file, 4096);
    if (!token) return usage("--operator-token-file: " + token.error().describe());
    while (!token->empty() && (token->back() == '\n' || token->back() == ' ')) token->pop_back();
    settings.operator_token = *token;
  }
  for (const auto& item : o.initial) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return usage("--initial: COMPONENT=VERSION");
    if (!common::Version::parse(item.substr(eq + 1))) return usage("--initial: " + item.substr(eq + 1) + " is not a SemVer version");
    settings.initial_versions[item.substr(0, eq)] = {item.substr(eq + 1), 1};
  }

  std::mt19937_64 rng(o.seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  std::vector<sim::DeviceSetup> setups;
  for (int i = 1; i <= o.devices; ++i) {
    sim::DeviceSetup setup{.index = i, .device_type = pick(*types, rng)};
    for (const auto& [key, values] : labels) setup.labels[key] = pick(values, rng);
    setup.faults = {.health_fail = chance(o.health_fail), .crash_loop = chance(o.crash_loop), .net_cut = chance(o.net_cut),
                    .offline = chance(o.offline), .tamper = chance(o.tamper), .clock_skew = chance(o.clock_skew)};
    setups.push_back(std::move(setup));
  }
  for (int g = 1; g <= o.gateways; ++g) {
    sim::DeviceSetup setup{.index = o.devices + g, .device_type = o.gateway_type};
    for (int c = 1; c <= o.children_per_gateway; ++c) {
      char name[48];
      std::snprintf(name, sizeof name, "s%llu-g%05d-c%04d", static_cast<unsigned long long>(o.seed), g, c);
      setup.children.push_back({name, pick(*child_types, rng), chance(o.child_fail), chance(o.child_offline)});
    }
    setups.push_back(std::move(setup));
  }
  std::error_code ec;
  std::filesystem::create_directories(settings.root_dir, ec);
  if (ec) {
    std::cerr << "flotilla-fleet-sim: cannot create " << settings.root_dir << ": " << ec.message() << "\n";
    return 1;
  }
  // The agent code logs each device's every step; the simulator's own
  // lines are what a person watches.
  common::set_log_level(common::LogLevel::kError);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);

  sim::Fleet fleet(settings, setups);
  bool terminal = ::isatty(STDERR_FILENO) == 1;
  auto last_printed = std::chrono::steady_clock::duration::zero();
  fleet.run(*duration, o.threads, stop_requested, [&](const sim::FleetCounts& counts, sim::Clock::duration elapsed) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
    if (terminal) {
      std::cerr << "\r\x1b[K" << seconds << "s " << counts.line() << std::flush;
    } else if (elapsed - last_printed >= std::chrono::seconds(5)) {
      std::cerr << seconds << "s " << counts.line() << "\n";
      last_printed = elapsed;
    }
  });
  if (terminal) std::cerr << "\n";
  auto counts = o.gateways > 0 ? fleet.counts_with_children() : fleet.counts();
  if (o.json) {
    std::cout << counts.to_json().dump(2) << "\n";
  } else {
    std::cout << "summary: " << counts.line() << "\n"
              << "cycles " << counts.cycles << ", failed " << counts.failed_cycles << "\n";
  }
  return 0;
}
