#include "client/bootloader.hpp"

#include <sstream>

#include "common/file.hpp"

namespace flotilla::client {

namespace {

constexpr std::size_t kMaxEnvBytes = 64 * 1024;

bool is_slot(std::string_view slot) { return slot == "a" || slot == "b"; }

std::string left_key(const std::string& slot) { return "BOOT_" + slot + "_LEFT"; }

}  // namespace

std::string other_slot(const std::string& slot) { return slot == "a" ? "b" : "a"; }

common::Result<std::unique_ptr<Bootloader>> open_bootloader(const AgentConfig& config) {
  using Type = AgentConfig::Bootloader::Type;
  if (config.bootloader.type == Type::kFile) return std::make_unique<FileBootloader>(config.bootloader.path);
  return common::fail(common::Errc::kBadField,
                      "/bootloader/type: this agent build supports only the file bootloader; grub, uboot and custom "
                      "are not implemented yet");
}

common::Result<common::Json> FileBootloader::load() {
  if (!std::filesystem::exists(env_)) {
    common::Json fresh = {{"BOOT_ORDER", "a b"}, {left_key("a"), kBootTries}, {left_key("b"), kBootTries}, {"BOOTED", "a"}};
    if (auto ok = save(fresh); !ok) return std::unexpected(ok.error());
    return fresh;
  }
  auto text = common::read_file(env_, kMaxEnvBytes);
  if (!text) return std::unexpected(text.error());
  auto env = common::parse_json_strict(*text);
  if (!env) return std::unexpected(env.error().with_context(env_.string()));
  for (const char* slot : {"a", "b"}) {
    if (!(*env).contains(left_key(slot)) || !(*env)[left_key(slot)].is_number_integer()) {
      return common::fail(common::Errc::kBadField, env_.string() + ": " + left_key(slot) + " is missing");
    }
  }
  if (!(*env).contains("BOOT_ORDER") || !(*env)["BOOT_ORDER"].is_string() || !(*env).contains("BOOTED") ||
      !(*env)["BOOTED"].is_string() || !is_slot((*env)["BOOTED"].get<std::string>())) {
    return common::fail(common::Errc::kBadField, env_.string() + ": BOOT_ORDER or BOOTED is missing");
  }
  return env;
}

common::Status FileBootloader::save(const common::Json& env) { return common::write_file_atomic(env_, env.dump(1) + "\n", 0644); }

common::Result<std::string> FileBootloader::booted_slot() {
  auto env = load();
  if (!env) return std::unexpected(env.error());
  return (*env)["BOOTED"].get<std::string>();
}

common::Status FileBootloader::try_once(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  auto env = load();
  if (!env) return std::unexpected(env.error());
  (*env)["BOOT_ORDER"] = slot + " " + other_slot(slot);
  (*env)[left_key(slot)] = 1;
  return save(*env);
}

common::Status FileBootloader::mark_good(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  auto env = load();
  if (!env) return std::unexpected(env.error());
  (*env)["BOOT_ORDER"] = slot + " " + other_slot(slot);
  (*env)[left_key(slot)] = kBootTries;
  return save(*env);
}

common::Status FileBootloader::mark_bad(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  auto env = load();
  if (!env) return std::unexpected(env.error());
  (*env)["BOOT_ORDER"] = other_slot(slot) + " " + slot;
  (*env)[left_key(slot)] = 0;
  return save(*env);
}

common::Result<std::string> FileBootloader::power_on() {
  auto env = load();
  if (!env) return std::unexpected(env.error());
  std::istringstream order((*env)["BOOT_ORDER"].get<std::string>());
  std::string first, slot, booted;
  while (order >> slot) {
    if (!is_slot(slot)) continue;
    if (first.empty()) first = slot;
    if ((*env)[left_key(slot)].get<int>() > 0) {
      (*env)[left_key(slot)] = (*env)[left_key(slot)].get<int>() - 1;
      booted = slot;
      break;
    }
  }
  if (booted.empty()) {
    // Nothing left anywhere: like U-Boot scripts, reset and boot the first.
    booted = first.empty() ? "a" : first;
    (*env)[left_key("a")] = kBootTries;
    (*env)[left_key("b")] = kBootTries;
  }
  (*env)["BOOTED"] = booted;
  (*env)["BOOT_COUNT"] = (*env).value("BOOT_COUNT", 0) + 1;
  if (auto ok = save(*env); !ok) return std::unexpected(ok.error());
  return booted;
}

common::Result<std::string> FileBootloader::boot_id() {
  auto env = load();
  if (!env) return std::unexpected(env.error());
  return std::to_string((*env).value("BOOT_COUNT", 0));
}

}  // namespace flotilla::client
