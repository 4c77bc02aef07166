// The agent's configuration file (agent.json; examples/device/). Every key
// is checked and unknown keys are refused: a typo must not silently turn
// off a health check.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/slot_device.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

namespace flotilla::client {

struct CommandSpec {
  std::vector<std::string> argv;
  std::chrono::seconds timeout{60};
};

struct AgentConfig {
  struct Server {
    std::string url;
    std::optional<std::string> ca_file;
  };
  std::optional<Server> server;  // absent: local installs only
  std::string device_type;
  common::Json identity = common::Json::object();
  std::optional<std::filesystem::path> enrollment_token_file;
  std::filesystem::path state_dir;
  std::filesystem::path trust_root;
  struct Installed {
    std::string version;
    std::int64_t security_version = 0;
  };
  std::map<std::string, Installed> initial_versions;  // what the factory image runs
  struct SlotPair {
    std::filesystem::path a, b;
    SlotKind kind = SlotKind::kBlock;  // stated, never guessed from the path
    const std::filesystem::path& side(const std::string& slot) const { return slot == "a" ? a : b; }
  };
  std::map<std::string, SlotPair> slots;  // slot class ("rootfs") -> devices or files
  // slots.verify_after_write: re-read every written image from the medium
  // and compare its digest before a trial boot is armed.
  bool verify_slots_after_write = false;
  struct Bootloader {
    enum class Type { kFile, kGrub, kUboot, kCustom } type = Type::kFile;
    std::filesystem::path path;     // file: the JSON environment; grub: grubenv; uboot: fw_env.config
    std::vector<std::string> script;  // custom
  } bootloader;
  struct Reboot {
    enum class Mode { kCommand, kExit } mode = Mode::kExit;
    std::vector<std::string> command;
    int exit_code = 77;  // kExit: the agent exits with it and a supervisor reboots
  } reboot;
  std::vector<CommandSpec> health_checks;
  std::optional<CommandSpec> tamper_check;
  std::optional<std::filesystem::path> modules_dir;
  // File payloads land under this directory instead of "/" (an image
  // mounted for staging; each simulated device's own tree).
  std::optional<std::filesystem::path> files_root;
  std::optional<std::int64_t> bandwidth_limit;  // bytes per second
  std::chrono::seconds poll_min{5}, poll_max{std::chrono::hours(24)};
  // device_key: where the device's identity key lives. Absent: an Ed25519
  // key in state_dir/device.key (0600). "tpm2": a P-256 key in the TPM,
  // either a wrapped blob in key_file (default state_dir/device.tpm.pem,
  // created in the TPM at first start unless create is false) or the
  // persistent key at handle.
  struct DeviceKey {
    std::optional<std::filesystem::path> key_file;
    std::optional<std::string> handle;
    std::optional<std::string> tcti;
    bool create = true;
  };
  std::optional<DeviceKey> tpm_key;
  // gateway: this agent also updates child devices through the adapters
  // in adapters_dir (docs/gateway.md).
  struct Gateway {
    std::filesystem::path adapters_dir;
    int parallelism = 4;                          // children worked on at once
    std::chrono::seconds step_timeout{600};       // one adapter step
    std::chrono::seconds scan_interval{300};      // list and read the children again
  };
  std::optional<Gateway> gateway;
};

// The document alone: shapes and values, no file system access.
common::Result<AgentConfig> parse_agent_config(const common::Json& doc);
// Every configured slot exists and is of its kind, and a and b differ as
// devices or files, not only as names (errors name /slots/CLASS/SIDE).
common::Status check_slot_paths(const AgentConfig& config);
// Reads, parses and checks the slots.
common::Result<AgentConfig> load_agent_config(const std::filesystem::path& path);

}  // namespace flotilla::client
