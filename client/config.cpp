#include "client/config.hpp"
#include "client/url_rules.hpp"

#include "common/file.hpp"
#include "common/semver.hpp"
#include "common/time.hpp"
#include "signing/provider_key.hpp"

namespace flotilla::client {

namespace {

using common::JsonObject;
using common::Result;

constexpr std::size_t kMaxConfigBytes = 256 * 1024;

Result<std::vector<std::string>> argv_of(const JsonObject& object, std::string_view key) {
  auto array = object.array(key, 64);
  if (!array) return std::unexpected(array.error());
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < (*array)->size(); ++i) {
    const auto& item = (**array)[i];
    if (!item.is_string() || item.get_ref<const std::string&>().empty() || item.get_ref<const std::string&>().size() > 4096) {
      return common::field_error(common::pointer_join(object.pointer_to(key), i), "must be a non-empty string");
    }
    argv.push_back(item.get<std::string>());
  }
  if (argv.empty()) return common::field_error(object.pointer_to(key), "must name a program");
  return argv;
}

Result<std::chrono::seconds> duration_of(const JsonObject& object, std::string_view key) {
  auto text = object.string(key, 32);
  if (!text) return std::unexpected(text.error());
  auto value = common::parse_duration(*text);
  if (!value || value->count() == 0) return common::field_error(object.pointer_to(key), "must be a duration such as \"120s\"");
  return *value;
}

Result<CommandSpec> command_of(const common::Json& value, const std::string& where) {
  auto object = JsonObject::of(value, where);
  if (!object) return std::unexpected(object.error());
  if (auto ok = object->only_keys({"command", "timeout"}); !ok) return std::unexpected(ok.error());
  CommandSpec spec;
  auto argv = argv_of(*object, "command");
  if (!argv) return std::unexpected(argv.error());
  spec.argv = std::move(*argv);
  if (object->has("timeout")) {
    auto timeout = duration_of(*object, "timeout");
    if (!timeout) return std::unexpected(timeout.error());
    spec.timeout = *timeout;
  }
  return spec;
}

Result<std::filesystem::path> path_of(const JsonObject& object, std::string_view key) {
  auto text = object.string(key, 4096);
  if (!text) return std::unexpected(text.error());
  if (text->empty()) return common::field_error(object.pointer_to(key), "must not be empty");
  return std::filesystem::path(*text);
}

// {"provider": "file"} (the default) or {"provider": "tpm2", ...}.
Result<std::optional<AgentConfig::DeviceKey>> device_key_of(const JsonObject& root) {
  auto object = root.object("device_key");
  if (!object) return std::unexpected(object.error());
  if (auto ok = object->only_keys({"provider", "key_file", "handle", "tcti", "create"}); !ok) return std::unexpected(ok.error());
  auto provider = object->string("provider", 16);
  if (!provider) return std::unexpected(provider.error());
  if (*provider == "file") {
    if (object->json().size() != 1) return common::field_error("/device_key", "takes no other setting with provider \"file\"");
    return std::nullopt;
  }
  if (*provider != "tpm2") return common::field_error("/device_key/provider", "must be \"file\" or \"tpm2\"");
  AgentConfig::DeviceKey key;
  if (object->has("key_file") && object->has("handle")) {
    return common::field_error("/device_key/handle", "names a persistent key: key_file must not be given with it");
  }
  if (object->has("key_file")) {
    auto path = path_of(*object, "key_file");
    if (!path) return std::unexpected(path.error());
    key.key_file = *path;
  }
  if (object->has("handle")) {
    auto handle = object->string("handle", 10);
    if (!handle) return std::unexpected(handle.error());
    if (!signing::is_persistent_tpm_handle(*handle)) {
      return common::field_error("/device_key/handle", "must be a persistent handle, 0x81000000 to 0x81ffffff");
    }
    key.handle = *handle;
  }
  if (object->has("tcti")) {
    auto tcti = object->string("tcti", 512);
    if (!tcti) return std::unexpected(tcti.error());
    if (tcti->empty()) return common::field_error("/device_key/tcti", "must not be empty");
    key.tcti = *tcti;
  }
  if (object->has("create")) {
    auto create = object->boolean("create");
    if (!create) return std::unexpected(create.error());
    if (*create && key.handle) {
      return common::field_error("/device_key/create", "cannot create a persistent key: make it with tpm2_evictcontrol");
    }
    key.create = *create;
  }
  if (key.handle) key.create = false;
  return key;
}

// {"adapters_dir": PATH, "parallelism": N, "step_timeout": "600s", "scan_interval": "300s"}.
Result<AgentConfig::Gateway> gateway_of(const JsonObject& root) {
  auto object = root.object("gateway");
  if (!object) return std::unexpected(object.error());
  if (auto ok = object->only_keys({"adapters_dir", "parallelism", "step_timeout", "scan_interval"}); !ok) {
    return std::unexpected(ok.error());
  }
  AgentConfig::Gateway gateway;
  auto dir = path_of(*object, "adapters_dir");
  if (!dir) return std::unexpected(dir.error());
  gateway.adapters_dir = *dir;
  if (object->has("parallelism")) {
    auto n = object->integer("parallelism", 1, 64);
    if (!n) return std::unexpected(n.error());
    gateway.parallelism = static_cast<int>(*n);
  }
  for (auto [key, target] : {std::pair{"step_timeout", &gateway.step_timeout}, std::pair{"scan_interval", &gateway.scan_interval}}) {
    if (!object->has(key)) continue;
    auto value = duration_of(*object, key);
    if (!value) return std::unexpected(value.error());
    *target = *value;
  }
  return gateway;
}

}  // namespace

Result<AgentConfig> parse_agent_config(const common::Json& doc) {
  auto root = JsonObject::of(doc, "");
  if (!root) return std::unexpected(root.error());
  if (auto ok = root->only_keys({"server", "device", "enrollment_token_file", "state_dir", "trust_root", "initial_versions",
                                 "slots", "bootloader", "reboot", "health_checks", "tamper_check", "modules_dir", "files_root",
                                 "bandwidth_limit", "poll_interval", "device_key", "gateway"});
      !ok) {
    return std::unexpected(ok.error());
  }
  AgentConfig c;
  if (root->has("server")) {
    auto server = root->object("server");
    if (!server) return std::unexpected(server.error());
    if (auto ok = server->only_keys({"url", "ca_file"}); !ok) return std::unexpected(ok.error());
    auto url = server->string("url", 2048);
    if (!url) return std::unexpected(url.error());
    if (!url->starts_with("https://") && !url->starts_with("http://")) {
      return common::field_error("/server/url", "must be an http:// or https:// URL");
    }
    if (!require_tls_unless_loopback(*url, "server.url")) {
      return common::field_error("/server/url", "must be https:// (with server.ca_file for a private CA); plain http:// "
                                                "is allowed only to this machine (localhost, 127.0.0.1, ::1)");
    }
    c.server = AgentConfig::Server{*url, std::nullopt};
    if (server->has("ca_file")) {
      auto ca = server->string("ca_file", 4096);
      if (!ca) return std::unexpected(ca.error());
      c.server->ca_file = *ca;
    }
  }
  auto device = root->object("device");
  if (!device) return std::unexpected(device.error());
  if (auto ok = device->only_keys({"type", "identity"}); !ok) return std::unexpected(ok.error());
  auto type = device->string("type", 64);
  if (!type) return std::unexpected(type.error());
  c.device_type = *type;
  if (device->has("identity")) {
    auto identity = device->object("identity");
    if (!identity) return std::unexpected(identity.error());
    c.identity = identity->json();
  }
  for (auto [key, target] : {std::pair{"state_dir", &c.state_dir}, std::pair{"trust_root", &c.trust_root}}) {
    auto path = path_of(*root, key);
    if (!path) return std::unexpected(path.error());
    *target = *path;
  }
  for (auto [key, target] : {std::pair{"enrollment_token_file", &c.enrollment_token_file},
                             std::pair{"modules_dir", &c.modules_dir}, std::pair{"files_root", &c.files_root}}) {
    if (!root->has(key)) continue;
    auto path = path_of(*root, key);
    if (!path) return std::unexpected(path.error());
    *target = *path;
  }
  if (root->has("initial_versions")) {
    auto versions = root->object("initial_versions");
    if (!versions) return std::unexpected(versions.error());
    for (const auto& [name, value] : versions->json().items()) {
      auto entry = JsonObject::of(value, versions->pointer_to(name));
      if (!entry) return std::unexpected(entry.error());
      if (auto ok = entry->only_keys({"version", "security_version"}); !ok) return std::unexpected(ok.error());
      auto version = entry->string("version", 256);
      if (!version) return std::unexpected(version.error());
      if (!common::Version::parse(*version)) return common::field_error(entry->pointer_to("version"), "is not SemVer 2.0");
      auto security = entry->integer("security_version", 0, std::int64_t{1} << 53);
      if (!security) return std::unexpected(security.error());
      c.initial_versions[name] = {*version, *security};
    }
  }
  if (root->has("slots")) {
    auto slots = root->object("slots");
    if (!slots) return std::unexpected(slots.error());
    for (const auto& [name, value] : slots->json().items()) {
      if (name == "verify_after_write") {
        auto verify = slots->boolean(name);
        if (!verify) return std::unexpected(verify.error());
        c.verify_slots_after_write = *verify;
        continue;
      }
      auto pair = JsonObject::of(value, slots->pointer_to(name));
      if (!pair) return std::unexpected(pair.error());
      if (auto ok = pair->only_keys({"a", "b", "kind"}); !ok) return std::unexpected(ok.error());
      AgentConfig::SlotPair slot;
      auto a = path_of(*pair, "a");
      if (!a) return std::unexpected(a.error());
      auto b = path_of(*pair, "b");
      if (!b) return std::unexpected(b.error());
      if (*a == *b) return common::field_error(pair->pointer_to("b"), "must differ from a");
      slot.a = *a;
      slot.b = *b;
      if (pair->has("kind")) {
        auto kind = pair->string("kind", 16);
        if (!kind) return std::unexpected(kind.error());
        if (*kind == "file") slot.kind = SlotKind::kFile;
        else if (*kind != "block") return common::field_error(pair->pointer_to("kind"), "must be block or file");
      }
      c.slots[name] = std::move(slot);
    }
  }
  if (root->has("bootloader")) {
    auto boot = root->object("bootloader");
    if (!boot) return std::unexpected(boot.error());
    if (auto ok = boot->only_keys({"type", "path", "script"}); !ok) return std::unexpected(ok.error());
    auto type_name = boot->string("type", 16);
    if (!type_name) return std::unexpected(type_name.error());
    using Type = AgentConfig::Bootloader::Type;
    if (*type_name == "file") c.bootloader.type = Type::kFile;
    else if (*type_name == "grub") c.bootloader.type = Type::kGrub;
    else if (*type_name == "uboot") c.bootloader.type = Type::kUboot;
    else if (*type_name == "custom") c.bootloader.type = Type::kCustom;
    else return common::field_error("/bootloader/type", "must be file, grub, uboot or custom");
    if (c.bootloader.type == Type::kCustom) {
      auto script = argv_of(*boot, "script");
      if (!script) return std::unexpected(script.error());
      c.bootloader.script = std::move(*script);
    } else {
      auto path = path_of(*boot, "path");
      if (!path) return std::unexpected(path.error());
      c.bootloader.path = *path;
    }
  } else if (!c.slots.empty()) {
    return common::field_error("/bootloader", "is required with slots");
  }
  if (root->has("reboot")) {
    auto reboot = root->object("reboot");
    if (!reboot) return std::unexpected(reboot.error());
    if (auto ok = reboot->only_keys({"mode", "command", "exit_code"}); !ok) return std::unexpected(ok.error());
    auto mode = reboot->string("mode", 16);
    if (!mode) return std::unexpected(mode.error());
    if (*mode == "command") {
      c.reboot.mode = AgentConfig::Reboot::Mode::kCommand;
      auto argv = argv_of(*reboot, "command");
      if (!argv) return std::unexpected(argv.error());
      c.reboot.command = std::move(*argv);
    } else if (*mode == "exit") {
      c.reboot.mode = AgentConfig::Reboot::Mode::kExit;
      if (reboot->has("exit_code")) {
        auto code = reboot->integer("exit_code", 3, 125);
        if (!code) return std::unexpected(code.error());
        c.reboot.exit_code = static_cast<int>(*code);
      }
    } else {
      return common::field_error("/reboot/mode", "must be command or exit");
    }
  }
  if (root->has("health_checks")) {
    auto checks = root->array("health_checks", 32);
    if (!checks) return std::unexpected(checks.error());
    for (std::size_t i = 0; i < (*checks)->size(); ++i) {
      auto spec = command_of((**checks)[i], common::pointer_join("/health_checks", i));
      if (!spec) return std::unexpected(spec.error());
      c.health_checks.push_back(std::move(*spec));
    }
  }
  if (root->has("tamper_check")) {
    auto spec = command_of(doc["tamper_check"], "/tamper_check");
    if (!spec) return std::unexpected(spec.error());
    c.tamper_check = std::move(*spec);
  }
  if (root->has("bandwidth_limit")) {
    auto limit = root->integer("bandwidth_limit", 1024, std::int64_t{1} << 40);
    if (!limit) return std::unexpected(limit.error());
    c.bandwidth_limit = *limit;
  }
  if (root->has("device_key")) {
    auto key = device_key_of(*root);
    if (!key) return std::unexpected(key.error());
    c.tpm_key = std::move(*key);
  }
  if (root->has("gateway")) {
    auto gateway = gateway_of(*root);
    if (!gateway) return std::unexpected(gateway.error());
    c.gateway = std::move(*gateway);
  }
  if (root->has("poll_interval")) {
    auto poll = root->object("poll_interval");
    if (!poll) return std::unexpected(poll.error());
    if (auto ok = poll->only_keys({"min", "max"}); !ok) return std::unexpected(ok.error());
    if (poll->has("min")) {
      auto min = duration_of(*poll, "min");
      if (!min) return std::unexpected(min.error());
      c.poll_min = *min;
    }
    if (poll->has("max")) {
      auto max = duration_of(*poll, "max");
      if (!max) return std::unexpected(max.error());
      c.poll_max = *max;
    }
    if (c.poll_min > c.poll_max) return common::field_error("/poll_interval/min", "is above max");
  }
  return c;
}

common::Status check_slot_paths(const AgentConfig& config) {
  for (const auto& [name, pair] : config.slots) {
    for (const auto* side : {"a", "b"}) {
      SlotTarget slot{name + "/" + side, pair.side(side), pair.kind};
      if (auto ok = check_slot_kind(slot); !ok) return std::unexpected(ok.error().with_context("/slots/" + slot.name));
    }
    if (same_slot(pair.a, pair.b)) {
      return common::field_error("/slots/" + name + "/b", "names the same " +
                                                            std::string(pair.kind == SlotKind::kBlock ? "device" : "file") +
                                                            " as a (" + pair.a.string() + ")");
    }
  }
  return {};
}

Result<AgentConfig> load_agent_config(const std::filesystem::path& path) {
  auto text = common::read_file(path.string(), kMaxConfigBytes);
  if (!text) return std::unexpected(text.error());
  auto doc = common::parse_json_strict(*text, {.max_bytes = kMaxConfigBytes, .max_depth = 16});
  if (!doc) return std::unexpected(doc.error().with_context(path.string()));
  auto config = parse_agent_config(*doc);
  if (!config) return std::unexpected(config.error().with_context(path.string()));
  if (auto ok = check_slot_paths(*config); !ok) return std::unexpected(ok.error().with_context(path.string()));
  return config;
}

}  // namespace flotilla::client
