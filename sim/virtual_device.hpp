// One simulated device: the real agent (flotilla::client's Agent and
// Daemon, as flotilla-agent runs them) over its own state directory,
// file-backed A/B slots and the `file` bootloader. A reboot is what the
// boot firmware does at power-on (Bootloader::power_on); faults are
// injected only where a real device would meet them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/config.hpp"
#include "client/env.hpp"
#include "signing/key.hpp"

namespace flotilla::sim {

using Clock = std::chrono::steady_clock;

// What this device will suffer (flotilla-fleet-sim's fault mix).
struct Faults {
  bool health_fail = false;  // the new version fails its health check
  bool crash_loop = false;   // the new slot never comes up
  bool net_cut = false;      // the first connection of each download drops
  bool offline = false;      // unreachable for a while (offline_from .. offline_until)
  bool tamper = false;       // its tamper check fails
  bool clock_skew = false;   // its clock is a day behind
};

// A simulated MCU behind a gateway (examples/gateway/adapters/sim-mcu).
struct ChildSetup {
  std::string name;          // its id, unique in the fleet
  std::string device_type;
  bool fail = false;         // flashing fails
  bool offline = false;      // unreachable until offline_from + offline_for
};

struct DeviceSetup {
  int index = 0;
  std::string device_type;
  std::map<std::string, std::string> labels;
  Faults faults;
  std::vector<ChildSetup> children;  // not empty: a field gateway (docs/gateway.md)
};

struct FleetSettings {
  std::string server_url;
  std::filesystem::path root_dir;  // each device gets root_dir/dev-NNNNN
  std::filesystem::path trust_root;
  std::filesystem::path enrollment_token_file;
  std::optional<std::string> operator_token;  // to apply --labels
  std::optional<std::filesystem::path> modules_dir;
  // Gateways enroll with this token (one that allows children); the
  // other devices with enrollment_token_file.
  std::optional<std::filesystem::path> gateway_enrollment_token_file;
  std::string child_firmware = "1.0.0";  // what every child runs at first
  std::map<std::string, client::AgentConfig::Installed> initial_versions;
  std::chrono::seconds poll_interval{30};
  std::uint64_t slot_bytes = 64 << 20;  // each file slot's size (sparse: costs no disk until written)
  std::optional<std::string> bad_version;  // faults of new versions apply only to this one
  Clock::duration offline_from{}, offline_for = std::chrono::minutes(2);
  std::uint64_t seed = 1;
};

// The device as counted in the live line and the summary.
struct DeviceView {
  std::string state = "new";  // new | idle | <update state> | rebooting | offline | error
  std::string version;        // of the first initial component ("rootfs")
  std::string last_result;    // committed | rolled_back | failed | ""
  std::string id;             // device key id, once it exists
};

// A simulated device's surroundings: a clock a day behind, a link that
// drops the first connection of each download.
class DeviceEnv final : public client::Env {
 public:
  explicit DeviceEnv(const Faults& faults) : faults_(faults) {}
  common::TimePoint now() override;
  bool drops_connection(int connection, std::uint64_t offset) override;

 private:
  Faults faults_;
};

class VirtualDevice {
 public:
  VirtualDevice(const FleetSettings& settings, DeviceSetup setup);

  // One turn: a pending reboot first, then one agent cycle. Returns when
  // the next turn is due.
  Clock::time_point step(Clock::time_point now, Clock::time_point started);
  const DeviceView& view() const { return view_; }
  // A gateway's children by the firmware version each runs now (read
  // from their simulated flash).
  std::map<std::string, std::int64_t> child_versions() const;
  std::int64_t requests_failed() const { return failures_; }
  std::int64_t cycles() const { return cycles_; }

 private:
  void prepare_files();
  void reboot();
  void label_once();
  bool fault_applies(const std::string& version) const;

  const FleetSettings& settings_;
  DeviceSetup setup_;
  DeviceEnv env_;
  client::AgentConfig config_;
  std::filesystem::path dir_;
  bool prepared_ = false, reboot_pending_ = false, labelled_ = false, children_back_ = false;
  std::string trial_version_;  // the version the pending reboot tries
  std::optional<signing::PrivateKey> key_;  // loaded once: decoding PEM costs more than a poll
  std::chrono::seconds backoff_{0};
  std::int64_t failures_ = 0, cycles_ = 0;
  DeviceView view_;
};

}  // namespace flotilla::sim
