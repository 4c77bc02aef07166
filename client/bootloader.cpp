#include "client/bootloader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdlib>
#include <sstream>
#include <utility>

#include "client/errors.hpp"
#include "common/file.hpp"

namespace flotilla::client {

namespace {

namespace fs = std::filesystem;
using Vars = std::map<std::string, std::string>;

constexpr std::size_t kMaxEnvBytes = 64 * 1024;
constexpr auto kToolTimeout = std::chrono::seconds(30);

bool is_slot(std::string_view slot) { return slot == "a" || slot == "b"; }

// flotilla.slot=a or rauc.slot=A on the kernel command line of a real device.
std::optional<std::string> slot_from_cmdline() {
  auto cmdline = common::read_file("/proc/cmdline", 8192);
  if (!cmdline) return std::nullopt;
  std::istringstream words(*cmdline);
  std::string word;
  while (words >> word) {
    for (std::string_view key : {"flotilla.slot=", "rauc.slot="}) {
      if (word.starts_with(key)) {
        std::string slot = word.substr(key.size());
        if (slot == "A" || slot == "a") return "a";
        if (slot == "B" || slot == "b") return "b";
      }
    }
  }
  return std::nullopt;
}

// On a real device (its slot on the kernel command line) the kernel's
// boot id; in simulation, nullopt: the environment's counter serves.
std::optional<std::string> kernel_boot_id() {
  if (!slot_from_cmdline()) return std::nullopt;
  auto id = common::read_file("/proc/sys/kernel/random/boot_id", 64);
  if (!id) return std::nullopt;
  return *id;
}

Vars parse_lines(const std::string& text) {
  Vars vars;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos && eq > 0) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return vars;
}

common::Status run_tool(Env& env, const std::vector<std::string>& argv, std::string* output = nullptr) {
  auto result = env.run(argv, kToolTimeout);
  if (!result) return std::unexpected(result.error());
  if (result->exit_code != 0) return common::fail(common::Errc::kIo, "bootloader: " + result->detail);
  if (output) *output = std::move(result->output);
  return {};
}

// A JSON object of strings and integers in a file, replaced atomically.
class JsonEnv final : public BootEnv {
 public:
  explicit JsonEnv(fs::path path) : path_(std::move(path)) {}
  common::Result<Vars> read() override {
    if (!fs::exists(path_)) return Vars{};
    auto text = common::read_file(path_, kMaxEnvBytes);
    if (!text) return std::unexpected(text.error());
    auto doc = common::parse_json_strict(*text);
    if (!doc || !doc->is_object()) return common::fail(Errc::kBootEnvironment, path_.string() + ": not a boot environment");
    Vars vars;
    for (const auto& [key, value] : doc->items()) vars[key] = value.is_string() ? value.get<std::string>() : value.dump();
    return vars;
  }
  common::Status write(const Vars& values) override {
    auto vars = read();
    if (!vars) return std::unexpected(vars.error());
    for (const auto& [key, value] : values) (*vars)[key] = value;
    common::Json doc = common::Json::object();
    for (const auto& [key, value] : *vars) {
      bool number = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos && value.size() < 10;
      doc[key] = number ? common::Json(std::stoi(value)) : common::Json(value);
    }
    return common::write_file_atomic(path_, doc.dump(1) + "\n", 0644);
  }

 private:
  fs::path path_;
};

// A file in the temporary directory, removed when it goes out of scope.
class TempFile {
 public:
  static common::Result<TempFile> write(const std::string& text) {
    std::string pattern = (fs::temp_directory_path() / "flotilla-env-XXXXXX").string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) return common::fail(common::Errc::kIo, "cannot create a temporary file");
    ::close(fd);
    TempFile file(pattern);
    if (auto ok = common::write_file_atomic(pattern, text, 0600); !ok) return std::unexpected(ok.error());
    return file;
  }
  TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ~TempFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// U-Boot's environment through libubootenv's tools. A blank environment
// reads as the scheme's defaults and gets them on the first write (-f).
class UbootEnv final : public BootEnv {
 public:
  UbootEnv(fs::path config, Env& env) : config_(std::move(config)), env_(env) {}
  common::Result<Vars> read() override {
    auto defaults = TempFile::write(kDefaults);
    if (!defaults) return std::unexpected(defaults.error());
    std::string output;
    if (auto ok = run_tool(env_, {"fw_printenv", "-c", config_.string(), "-f", defaults->path()}, &output); !ok) {
      return std::unexpected(ok.error());
    }
    return parse_lines(output);
  }
  common::Status write(const Vars& values) override {
    // One script, so every variable changes in one environment write.
    std::string text;
    for (const auto& [key, value] : values) text += key + "=" + value + "\n";  // libubootenv reads name=value
    auto script = TempFile::write(text);
    if (!script) return std::unexpected(script.error());
    auto defaults = TempFile::write(kDefaults);
    if (!defaults) return std::unexpected(defaults.error());
    return run_tool(env_, {"fw_setenv", "-c", config_.string(), "-f", defaults->path(), "-s", script->path()});
  }

 private:
  static constexpr const char* kDefaults = "BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n";
  fs::path config_;
  Env& env_;
};

// GRUB's environment block (grub-editenv's and save_env's format: 1024
// bytes, a header line, NAME=VALUE lines with '\' and newline escaped by
// '\', '#' padding), read and written by the agent itself, in place. The
// block's disk blocks never change, as with GRUB's own save_env: a power
// cut mid-write can tear the block but never the filesystem around it.
// (grub-editenv truncates and rewrites the file; cut at the wrong instant
// on ext2 that corrupted the block bitmap, and every later write failed
// with "No space left on device" — seen on the QEMU device.) A torn or
// missing block reads as empty, which the shipped grub.cfg boots as slot A.
class GrubEnv final : public BootEnv {
 public:
  static constexpr std::size_t kBlockBytes = 1024;
  static constexpr std::string_view kHeader = "# GRUB Environment Block\n";

  explicit GrubEnv(fs::path file) : file_(std::move(file)) {}
  common::Result<Vars> read() override {
    if (!fs::exists(file_)) {
      // Made once, whole (a new file's blocks are allocated here only).
      if (auto ok = common::write_file_atomic(file_, encode({}), 0644); !ok) return std::unexpected(ok.error());
    }
    auto text = common::read_file(file_, kMaxEnvBytes);
    if (!text) return std::unexpected(text.error());
    if (!text->starts_with(kHeader)) {
      return common::fail(Errc::kBootEnvironment, file_.string() + " is not a GRUB environment block");
    }
    return decode(std::string_view(*text).substr(kHeader.size()));
  }
  common::Status write(const Vars& values) override {
    auto vars = read();
    if (!vars) return std::unexpected(vars.error());
    for (const auto& [key, value] : values) (*vars)[key] = value;
    auto block = encode(*vars);
    if (block.size() != kBlockBytes) {
      return common::fail(common::Errc::kTooLarge, "the GRUB environment does not fit in 1024 bytes");
    }
    int fd = ::open(file_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return common::fail(common::Errc::kIo, "cannot open " + file_.string() + ": " + std::strerror(errno));
    bool ok = ::pwrite(fd, block.data(), block.size(), 0) == static_cast<ssize_t>(block.size()) && ::fsync(fd) == 0;
    int saved = errno;
    ::close(fd);
    if (!ok) return common::fail(common::Errc::kIo, "cannot write " + file_.string() + ": " + std::strerror(saved));
    return {};
  }

 private:
  static std::string encode(const Vars& vars) {
    std::string block(kHeader);
    for (const auto& [key, value] : vars) {
      block += key + "=";
      for (char c : value) {
        if (c == '\\' || c == '\n') block += '\\';
        block += c;
      }
      block += '\n';
    }
    if (block.size() <= kBlockBytes) block.resize(kBlockBytes, '#');
    return block;
  }
  static Vars decode(std::string_view text) {
    Vars vars;
    while (!text.empty()) {
      if (text.front() == '#') {
        // A comment line (grub-editenv writes one), or the padding: it has
        // no newline after it.
        auto end = text.find('\n');
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
        continue;
      }
      std::string line;
      std::size_t i = 0;
      for (; i < text.size() && text[i] != '\n'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        line += text[i];
      }
      text.remove_prefix(std::min(i + 1, text.size()));
      auto eq = line.find('=');
      if (eq != std::string::npos && eq > 0) vars[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return vars;
  }

  fs::path file_;
};

int number(const Vars& vars, const std::string& key, int fallback) {
  auto it = vars.find(key);
  if (it == vars.end()) return fallback;
  try {
    return std::stoi(it->second);
  } catch (...) {
    return fallback;
  }
}

std::string value(const Vars& vars, const std::string& key, const std::string& fallback) {
  auto it = vars.find(key);
  return it == vars.end() ? fallback : it->second;
}

// RAUC's GRUB scheme: ORDER lists slots; a slot boots when <slot>_OK=1 and
// <slot>_TRY=0, and the script sets <slot>_TRY=1 as it boots it; the
// running system resets _TRY when it marks the slot good.
class GrubBootloader final : public Bootloader {
 public:
  explicit GrubBootloader(fs::path file) : env_(std::make_unique<GrubEnv>(std::move(file))) {}
  common::Result<std::string> booted_slot() override {
    if (auto slot = slot_from_cmdline()) return *slot;
    auto vars = load();
    if (!vars) return std::unexpected(vars.error());
    return value(*vars, "BOOTED", "a");
  }
  common::Status try_once(const std::string& slot) override {
    if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
    return env_->write({{"ORDER", up(slot) + " " + up(other_slot(slot))}, {up(slot) + "_OK", "1"}, {up(slot) + "_TRY", "0"}});
  }
  common::Status mark_good(const std::string& slot) override {
    if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
    return env_->write({{"ORDER", up(slot) + " " + up(other_slot(slot))}, {up(slot) + "_OK", "1"}, {up(slot) + "_TRY", "0"}});
  }
  common::Status mark_bad(const std::string& slot) override {
    if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
    return env_->write({{"ORDER", up(other_slot(slot)) + " " + up(slot)}, {up(slot) + "_OK", "0"}, {up(slot) + "_TRY", "0"}});
  }
  common::Result<std::string> boot_id() override {
    if (auto id = kernel_boot_id()) return *id;
    auto vars = load();
    if (!vars) return std::unexpected(vars.error());
    return value(*vars, "BOOT_COUNT", "0");
  }
  common::Result<std::string> power_on() override {
    auto vars = load();
    if (!vars) return std::unexpected(vars.error());
    // As examples/boot/grub/grub.cfg: the first good slot of ORDER with
    // its try left; when every good slot has used its try, their tries are
    // renewed and the first good one boots; nothing good: the factory slot.
    Vars changes;
    auto choose = [&](bool renewed) {
      std::istringstream order(value(*vars, "ORDER", "A B"));
      for (std::string slot; order >> slot;) {
        if (number(*vars, slot + "_OK", 0) == 1 && (renewed || number(*vars, slot + "_TRY", 0) == 0)) {
          changes[slot + "_TRY"] = "1";
          return std::string(slot == "A" ? "a" : "b");
        }
      }
      return std::string();
    };
    std::string booted = choose(false);
    if (booted.empty()) {
      changes = {{"A_TRY", "0"}, {"B_TRY", "0"}};
      booted = choose(true);
    }
    if (booted.empty()) booted = "a";
    changes["BOOTED"] = booted;
    changes["BOOT_COUNT"] = std::to_string(number(*vars, "BOOT_COUNT", 0) + 1);
    if (auto ok = env_->write(changes); !ok) return std::unexpected(ok.error());
    return booted;
  }

 private:
  static std::string up(const std::string& slot) { return slot == "a" ? "A" : "B"; }
  common::Result<Vars> load() {
    auto vars = env_->read();
    if (!vars) return std::unexpected(vars.error());
    if (!vars->contains("ORDER")) {
      Vars fresh = {{"ORDER", "A B"}, {"A_OK", "1"}, {"A_TRY", "0"}, {"B_OK", "0"}, {"B_TRY", "0"}, {"BOOTED", "a"}};
      if (auto ok = env_->write(fresh); !ok) return std::unexpected(ok.error());
      return fresh;
    }
    return vars;
  }
  std::unique_ptr<BootEnv> env_;
};

// A site's own script: `SCRIPT... booted-slot | boot-id | try-once SLOT |
// mark-good SLOT | mark-bad SLOT | power-on`; the queries print their
// answer on stdout, every command exits 0 on success (docs/agent.md).
class CustomBootloader final : public Bootloader {
 public:
  CustomBootloader(std::vector<std::string> script, Env& env) : script_(std::move(script)), env_(env) {}
  common::Result<std::string> booted_slot() override { return slot_answer({"booted-slot"}); }
  common::Status try_once(const std::string& slot) override { return command({"try-once", slot}); }
  common::Status mark_good(const std::string& slot) override { return command({"mark-good", slot}); }
  common::Status mark_bad(const std::string& slot) override { return command({"mark-bad", slot}); }
  common::Result<std::string> boot_id() override {
    std::string output;
    if (auto ok = run_tool(env_, argv({"boot-id"}), &output); !ok) return std::unexpected(ok.error());
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    if (output.empty()) return common::fail(Errc::kBootScript, "bootloader script: boot-id printed nothing");
    return output;
  }
  common::Result<std::string> power_on() override { return slot_answer({"power-on"}); }

 private:
  std::vector<std::string> argv(std::vector<std::string> args) const {
    std::vector<std::string> all = script_;
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }
  common::Status command(std::vector<std::string> args) {
    if (args.size() > 1 && !is_slot(args[1])) return common::fail(common::Errc::kBadField, "no slot " + args[1]);
    return run_tool(env_, argv(std::move(args)));
  }
  common::Result<std::string> slot_answer(std::vector<std::string> args) {
    std::string output;
    if (auto ok = run_tool(env_, argv(std::move(args)), &output); !ok) return std::unexpected(ok.error());
    std::istringstream words(output);
    std::string slot;
    words >> slot;
    if (slot == "A") slot = "a";
    if (slot == "B") slot = "b";
    if (!is_slot(slot)) return common::fail(Errc::kBootScript, "bootloader script printed no slot (a or b)");
    return slot;
  }
  std::vector<std::string> script_;
  Env& env_;
};

}  // namespace

std::string other_slot(const std::string& slot) { return slot == "a" ? "b" : "a"; }

common::Result<std::unique_ptr<Bootloader>> open_bootloader(const AgentConfig& config, Env& env) {
  using Type = AgentConfig::Bootloader::Type;
  switch (config.bootloader.type) {
    case Type::kFile:
      return std::make_unique<FileBootloader>(config.bootloader.path);
    case Type::kUboot:
      return std::make_unique<CountingBootloader>(std::make_unique<UbootEnv>(config.bootloader.path, env), true);
    case Type::kGrub:
      return std::make_unique<GrubBootloader>(config.bootloader.path);
    case Type::kCustom:
      return std::make_unique<CustomBootloader>(config.bootloader.script, env);
  }
  return common::fail(common::Errc::kBadField, "/bootloader/type: unknown bootloader");
}

FileBootloader::FileBootloader(fs::path env) : CountingBootloader(std::make_unique<JsonEnv>(std::move(env)), false) {}

std::string CountingBootloader::name(const std::string& slot) const {
  if (!upper_) return slot;
  return slot == "a" ? "A" : "B";
}

common::Result<Vars> CountingBootloader::load() {
  auto vars = env_->read();
  if (!vars) return std::unexpected(vars.error());
  if (!vars->contains("BOOT_ORDER")) {
    Vars fresh = {{"BOOT_ORDER", name("a") + " " + name("b")},
                  {left("a"), std::to_string(kBootTries)},
                  {left("b"), std::to_string(kBootTries)},
                  {"BOOTED", "a"}};
    if (auto ok = env_->write(fresh); !ok) return std::unexpected(ok.error());
    return fresh;
  }
  return vars;
}

common::Result<std::string> CountingBootloader::booted_slot() {
  if (auto slot = slot_from_cmdline()) return *slot;
  auto vars = load();
  if (!vars) return std::unexpected(vars.error());
  std::string booted = value(*vars, "BOOTED", "a");
  if (!is_slot(booted)) return common::fail(Errc::kBootEnvironment, "the boot environment names no slot in BOOTED");
  return booted;
}

common::Status CountingBootloader::try_once(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  if (auto vars = load(); !vars) return std::unexpected(vars.error());
  return env_->write({{"BOOT_ORDER", name(slot) + " " + name(other_slot(slot))}, {left(slot), "1"}});
}

common::Status CountingBootloader::mark_good(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  auto vars = load();
  if (!vars) return std::unexpected(vars.error());
  std::string order = name(slot) + " " + name(other_slot(slot)), tries = std::to_string(kBootTries);
  // Already so (every start marks the running slot good): no write, no
  // fsync, no flash wear.
  if (value(*vars, "BOOT_ORDER", "") == order && value(*vars, left(slot), "") == tries) return {};
  return env_->write({{"BOOT_ORDER", order}, {left(slot), tries}});
}

common::Status CountingBootloader::mark_bad(const std::string& slot) {
  if (!is_slot(slot)) return common::fail(common::Errc::kBadField, "no slot " + slot);
  if (auto vars = load(); !vars) return std::unexpected(vars.error());
  return env_->write({{"BOOT_ORDER", name(other_slot(slot)) + " " + name(slot)}, {left(slot), "0"}});
}

common::Result<std::string> CountingBootloader::boot_id() {
  if (auto id = kernel_boot_id()) return *id;
  auto vars = load();
  if (!vars) return std::unexpected(vars.error());
  return value(*vars, "BOOT_COUNT", "0");
}

common::Result<std::string> CountingBootloader::power_on() {
  auto vars = load();
  if (!vars) return std::unexpected(vars.error());
  std::istringstream order(value(*vars, "BOOT_ORDER", name("a") + " " + name("b")));
  std::string slot, first, booted;
  Vars changes;
  while (order >> slot) {
    std::string s = slot == "A" || slot == "a" ? "a" : slot == "B" || slot == "b" ? "b" : "";
    if (s.empty()) continue;
    if (first.empty()) first = s;
    int tries = number(*vars, left(s), 0);
    if (tries > 0) {
      changes[left(s)] = std::to_string(tries - 1);
      booted = s;
      break;
    }
  }
  if (booted.empty()) {
    // Nothing left anywhere: like U-Boot scripts, reset and boot the first.
    booted = first.empty() ? "a" : first;
    changes[left("a")] = std::to_string(kBootTries);
    changes[left("b")] = std::to_string(kBootTries);
  }
  changes["BOOTED"] = booted;
  changes["BOOT_COUNT"] = std::to_string(number(*vars, "BOOT_COUNT", 0) + 1);
  if (auto ok = env_->write(changes); !ok) return std::unexpected(ok.error());
  return booted;
}

}  // namespace flotilla::client
