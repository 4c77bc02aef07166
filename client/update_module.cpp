#include "client/update_module.hpp"

#include "client/errors.hpp"
#include "common/file.hpp"
#include "common/json.hpp"

namespace flotilla::client {

namespace {

namespace fs = std::filesystem;

constexpr auto kModuleTimeout = std::chrono::hours(1);

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

common::Status UpdateModule::prepare(const artifacts::Manifest& m, const std::string& device_type) {
  std::error_code ec;
  fs::create_directories(workdir_ / "header", ec);
  fs::remove_all(workdir_ / "tmp", ec);
  fs::create_directories(workdir_ / "tmp", ec);
  if (ec) return common::fail(common::Errc::kIo, "cannot lay out " + workdir_.string() + ": " + ec.message());
  std::string module = m.payloads.empty() ? "" : m.payloads.front().module;
  std::string artifact = m.name + "-" + m.version.text();
  common::Json header_info = {{"payloads", {{{"type", module}}}}, {"artifact_provides", {{"artifact_name", artifact}}},
                              {"artifact_depends", {{"device_type", m.compatible}}}};
  common::Json type_info = {{"type", module}, {"artifact_provides", {{"rootfs-image." + module + ".version", m.version.text()}}}};
  const std::pair<fs::path, std::string> files[] = {
      {workdir_ / "version", "3\n"},
      {workdir_ / "current_artifact_name", artifact + "\n"},
      {workdir_ / "current_artifact_group", "\n"},
      {workdir_ / "current_device_type", device_type + "\n"},
      {workdir_ / "header" / "artifact_name", artifact + "\n"},
      {workdir_ / "header" / "artifact_group", "\n"},
      {workdir_ / "header" / "payload_type", module + "\n"},
      {workdir_ / "header" / "header-info", header_info.dump() + "\n"},
      {workdir_ / "header" / "type-info", type_info.dump() + "\n"},
      {workdir_ / "header" / "meta-data", "{}\n"},
  };
  for (const auto& [path, text] : files) {
    if (auto ok = common::write_file_atomic(path, text, 0644); !ok) return ok;
  }
  return {};
}

common::Result<std::string> UpdateModule::call(const std::string& state) {
  auto result = env_.run({executable_.string(), state, workdir_.string()}, kModuleTimeout);
  if (!result) return std::unexpected(result.error());
  if (result->exit_code != 0) {
    return common::fail(common::Errc::kIo, "update module " + executable_.filename().string() + " " + state + ": " +
                                               result->detail);
  }
  return trimmed(result->output);
}

void UpdateModule::fail_and_clean() {
  auto supports = call("SupportsRollback");
  if (supports && *supports == "Yes") (void)call("ArtifactRollback");
  (void)call("ArtifactFailure");
  (void)call("Cleanup");
}

common::Result<bool> UpdateModule::install() {
  if (auto ok = call("ArtifactInstall"); !ok) {
    fail_and_clean();
    return std::unexpected(ok.error());
  }
  env_.reached("module_installed");
  auto reboot = call("NeedsArtifactReboot");
  if (!reboot) {
    fail_and_clean();
    return std::unexpected(reboot.error());
  }
  if (*reboot == "No" || reboot->empty()) return false;
  if (*reboot != "Yes" && *reboot != "Automatic") {
    fail_and_clean();
    return common::fail(Errc::kModuleAnswer, "update module " + executable_.filename().string() +
                                                      " answered NeedsArtifactReboot with \"" + reboot->substr(0, 40) + "\"");
  }
  // "Yes": the module prepares (or performs) the reboot itself.
  if (*reboot == "Yes") {
    if (auto ok = call("ArtifactReboot"); !ok) {
      fail_and_clean();
      return std::unexpected(ok.error());
    }
  }
  return true;
}

common::Status UpdateModule::commit(bool rebooted) {
  if (rebooted) {
    if (auto ok = call("ArtifactVerifyReboot"); !ok) {
      fail_and_clean();
      return std::unexpected(ok.error());
    }
  }
  if (auto ok = call("ArtifactCommit"); !ok) {
    fail_and_clean();
    return std::unexpected(ok.error());
  }
  (void)call("Cleanup");
  return {};
}

bool UpdateModule::exists() const { return fs::exists(workdir_ / "header"); }

void UpdateModule::abandon() { fail_and_clean(); }

}  // namespace flotilla::client
