#include "sim/virtual_device.hpp"

#include <fstream>
#include <random>

#include "client/agent.hpp"
#include "client/bootloader.hpp"
#include "client/daemon.hpp"
#include "client/transport.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "sim/sim_adapter.hpp"

namespace flotilla::sim {
namespace fs = std::filesystem;

namespace {

constexpr auto kRebootTime = std::chrono::seconds(1);

std::string serial_of(int index) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "dev-%05d", index);
  return buffer;
}

}  // namespace

VirtualDevice::VirtualDevice(const FleetSettings& settings, DeviceSetup setup)
    : settings_(settings), setup_(std::move(setup)), env_(setup_.faults), dir_(settings.root_dir / serial_of(setup_.index)) {
  config_.server = client::AgentConfig::Server{settings.server_url, std::nullopt};
  config_.device_type = setup_.device_type;
  config_.identity = {{"serial", "SIM-" + std::to_string(settings.seed) + "-" + serial_of(setup_.index)}};
  config_.enrollment_token_file = settings.enrollment_token_file;
  config_.state_dir = dir_ / "state";
  config_.trust_root = settings.trust_root;
  config_.initial_versions = settings.initial_versions;
  config_.slots["rootfs"] = {dir_ / "rootfs-a.img", dir_ / "rootfs-b.img", client::SlotKind::kFile};
  config_.bootloader.type = client::AgentConfig::Bootloader::Type::kFile;
  config_.bootloader.path = dir_ / "bootenv.json";
  config_.reboot.mode = client::AgentConfig::Reboot::Mode::kExit;
  config_.modules_dir = settings.modules_dir;
  config_.files_root = dir_ / "root";
  config_.poll_min = settings.poll_interval;
  config_.poll_max = settings.poll_interval;
  if (setup_.faults.health_fail) {
    // Fails while the simulator has marked the version being tried as bad.
    config_.health_checks.push_back({{"/usr/bin/test", "!", "-e", (dir_ / "unhealthy").string()}, std::chrono::seconds(10)});
  }
  if (setup_.faults.tamper) config_.tamper_check = client::CommandSpec{{"/bin/false"}, std::chrono::seconds(10)};
  if (!setup_.children.empty()) {
    // A field gateway: the example adapter, its children beside it.
    if (settings.gateway_enrollment_token_file) config_.enrollment_token_file = settings.gateway_enrollment_token_file;
    config_.gateway = client::AgentConfig::Gateway{
        .adapters_dir = dir_ / "adapters",
        .parallelism = 4,
        .step_timeout = std::chrono::seconds(60),
        .scan_interval = std::max<std::chrono::seconds>(settings.poll_interval * 10, std::chrono::seconds(10))};
  }
  view_.version = settings.initial_versions.empty() ? "" : settings.initial_versions.begin()->second.version;
}

void VirtualDevice::prepare_files() {
  fs::create_directories(dir_ / "root");
  // File slots exist at their full size before the agent runs, as
  // partitions do: the agent writes them in place and never creates one.
  for (const auto* slot : {"rootfs-a.img", "rootfs-b.img"}) {
    if (fs::exists(dir_ / slot)) continue;
    std::ofstream(dir_ / slot) << "factory image of " << serial_of(setup_.index) << "\n";
    fs::resize_file(dir_ / slot, settings_.slot_bytes);
  }
  if (!setup_.children.empty()) {
    fs::create_directories(dir_ / "adapters");
    auto adapter = dir_ / "adapters" / "sim-mcu";
    if (!fs::exists(adapter)) (void)common::write_file_atomic(adapter, kSimAdapterScript, 0755);
    for (const auto& child : setup_.children) {
      auto d = dir_ / "sim-children" / child.name;
      if (fs::exists(d / "device_type")) continue;
      fs::create_directories(d);
      std::ofstream(d / "bank") << "ab\n";
      std::ofstream(d / "active") << "a\n";
      std::ofstream(d / "slot_a") << "SIMFW component=firmware version=" << settings_.child_firmware << " security_version=1\n";
      std::ofstream(d / "slot_b");
      if (child.fail) std::ofstream(d / "fail_install");
      if (child.offline) std::ofstream(d / "offline");
      std::ofstream(d / "device_type") << child.device_type << "\n";  // last: the adapter lists complete children only
    }
  }
  prepared_ = true;
}

std::map<std::string, std::int64_t> VirtualDevice::child_versions() const {
  std::map<std::string, std::int64_t> counts;
  for (const auto& child : setup_.children) {
    auto d = dir_ / "sim-children" / child.name;
    std::ifstream active(d / "active");
    std::string bank;
    std::getline(active, bank);
    std::ifstream image(d / ("slot_" + (bank.empty() ? std::string("a") : bank)));
    std::string header;
    std::getline(image, header);
    auto at = header.find("version=");
    ++counts[at == std::string::npos ? "unknown" : header.substr(at + 8, header.find(' ', at + 8) - at - 8)];
  }
  return counts;
}

common::TimePoint DeviceEnv::now() {
  return faults_.clock_skew ? Env::now() - std::chrono::hours(24) : Env::now();
}

bool DeviceEnv::drops_connection(int connection, std::uint64_t offset) {
  return faults_.net_cut && connection == 0 && offset > 4096;
}

bool VirtualDevice::fault_applies(const std::string& version) const {
  return !settings_.bad_version || *settings_.bad_version == version;
}

// Power-on, as the boot firmware does it. A crash-looping new slot never
// reaches the agent: the firmware's next power-on falls back by itself.
void VirtualDevice::reboot() {
  auto boot = client::open_bootloader(config_);
  if (!boot) return;
  (void)(*boot)->power_on();
  if (setup_.faults.crash_loop && fault_applies(trial_version_)) (void)(*boot)->power_on();
  reboot_pending_ = false;
}

// --labels: what an operator would set once the device shows up.
void VirtualDevice::label_once() {
  if (labelled_ || setup_.labels.empty() || !settings_.operator_token || view_.id.empty()) return;
  client::Transport transport(settings_.server_url, std::nullopt);
  common::Json labels = setup_.labels;
  auto response = transport.request("PUT", "/api/v1/devices/" + view_.id + "/labels", common::Json{{"labels", labels}}.dump(),
                                    {"Authorization: Bearer " + *settings_.operator_token, "Content-Type: application/json"});
  labelled_ = response && response->status == 200;
}

Clock::time_point VirtualDevice::step(Clock::time_point now, Clock::time_point started) {
  if (setup_.faults.offline && now - started >= settings_.offline_from &&
      now - started < settings_.offline_from + settings_.offline_for) {
    view_.state = "offline";
    return started + settings_.offline_from + settings_.offline_for;
  }
  if (!prepared_) prepare_files();
  if (reboot_pending_) reboot();
  if (!children_back_ && !setup_.children.empty() && now - started >= settings_.offline_from + settings_.offline_for) {
    // The children that did not answer are back on the bus.
    for (const auto& child : setup_.children) {
      if (child.offline) fs::remove(dir_ / "sim-children" / child.name / "offline");
    }
    children_back_ = true;
  }
  ++cycles_;
  auto agent = client::Agent::open(config_, env_);
  if (!agent) {
    view_.state = "error";
    ++failures_;
    return now + std::chrono::seconds(10);
  }
  auto opened = key_ ? client::Daemon::open(**agent, *key_) : client::Daemon::open(**agent);
  if (!opened) {
    view_.state = "error";
    ++failures_;
    return now + std::chrono::seconds(10);
  }
  std::unique_ptr<client::Daemon> daemon = std::move(*opened);
  if (!key_) {
    key_ = daemon->key();
    view_.id = key_->key_id();
  }
  auto next = daemon->cycle();
  // What the device's own state says (its SQLite file; no trust-root work).
  if (auto update = (*agent)->state().update()) {
    auto stage = update->state;
    bool final = stage == client::Stage::kCommitted || stage == client::Stage::kRolledBack || stage == client::Stage::kFailed;
    view_.state = final ? std::string(client::stage_name(client::Stage::kIdle)) : std::string(client::stage_name(stage));
    if (final) view_.last_result = client::stage_name(stage);
    trial_version_ = update->version;
  }
  if (auto components = (*agent)->state().components(); components && !settings_.initial_versions.empty()) {
    auto it = components->find(settings_.initial_versions.begin()->first);
    if (it != components->end()) view_.version = it->second.version;
  }
  if (!next) {
    ++failures_;
    view_.state = "error";
    // Backing off like the agent: doubling up to the poll interval.
    backoff_ = backoff_ == std::chrono::seconds(0) ? std::chrono::seconds(2)
                                                  : std::min(backoff_ * 2, settings_.poll_interval);
    return now + backoff_;
  }
  backoff_ = std::chrono::seconds(0);
  label_once();
  if (next->exit_code) {
    // The agent asks for its trial boot. A health-failing device fails
    // only the version the fault is tied to.
    reboot_pending_ = true;
    view_.state = client::stage_name(client::Stage::kRebooting);
    if (setup_.faults.health_fail && fault_applies(trial_version_)) {
      std::ofstream(dir_ / "unhealthy") << trial_version_ << "\n";
    } else {
      fs::remove(dir_ / "unhealthy");
    }
    return now + kRebootTime;
  }
  // ±10 % jitter spreads the fleet's polls, as the agent does.
  thread_local std::mt19937_64 rng(std::random_device{}());
  auto jitter = std::uniform_real_distribution<double>(0.9, 1.1)(rng);
  return now + std::chrono::duration_cast<Clock::duration>(next->wait * jitter);
}

}  // namespace flotilla::sim
