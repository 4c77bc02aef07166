#include "client/child_adapter.hpp"

#include <unistd.h>

#include <algorithm>

#include "artifacts/manifest.hpp"
#include "common/semver.hpp"

namespace flotilla::client {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxChildren = 4096;
constexpr std::size_t kMaxComponents = 64;

// The first line of what a program printed, short enough for a message.
std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

}  // namespace

std::string_view step_outcome_name(StepOutcome outcome) {
  switch (outcome) {
    case StepOutcome::kDone: return "done";
    case StepOutcome::kFailed: return "failed";
    case StepOutcome::kUnreachable: return "unreachable";
    case StepOutcome::kUnsupported: return "unsupported";
  }
  return "?";
}

StepResult ChildAdapter::run(const std::vector<std::string>& args) {
  std::vector<std::string> argv{executable_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string step = "adapter " + name() + " " + args.front() + (args.size() > 1 ? " " + args[1] : "");
  auto ran = env_.run(argv, timeout_);
  if (!ran) return {StepOutcome::kFailed, step + ": " + ran.error().describe(), ""};
  if (ran->timed_out) {
    return {StepOutcome::kUnreachable, step + ": no answer within " + std::to_string(timeout_.count()) + " s (killed)", ""};
  }
  std::string said = first_line(ran->output);
  switch (ran->exit_code) {
    case 0: return {StepOutcome::kDone, step + ": done", ran->output};
    case 1: return {StepOutcome::kFailed, step + ": failed" + (said.empty() ? "" : ": " + said), ""};
    case 2: return {StepOutcome::kUnreachable, step + ": the child cannot be reached" + (said.empty() ? "" : ": " + said), ""};
    case 3: return {StepOutcome::kUnsupported, step + ": not supported", ""};
    default: return {StepOutcome::kFailed, step + ": " + ran->detail + " (the protocol's exit codes are 0 to 3)", ""};
  }
}

common::Result<std::vector<ChildInfo>> parse_children(std::string_view output, const std::string& adapter) {
  std::string where = "adapter " + adapter + " list";
  auto parsed = common::parse_json_strict(output, {.max_bytes = 1 << 20, .max_depth = 8});
  auto doc = parsed ? std::move(*parsed) : common::Json();
  if (!doc.is_object() || !doc.contains("children") || !doc["children"].is_array()) {
    return common::fail(common::Errc::kBadJson, where + ": stdout is not {\"children\": [...]}: " + first_line(std::string(output)));
  }
  if (doc["children"].size() > kMaxChildren) {
    return common::fail(common::Errc::kBadField, where + ": more than " + std::to_string(kMaxChildren) + " children");
  }
  std::vector<ChildInfo> children;
  for (std::size_t i = 0; i < doc["children"].size(); ++i) {
    const auto& c = doc["children"][i];
    std::string at = where + ": /children/" + std::to_string(i);
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string() || !c.contains("device_type") || !c["device_type"].is_string()) {
      return common::fail(common::Errc::kBadField, at + " needs string members id and device_type");
    }
    ChildInfo info{c["id"].get<std::string>(), c["device_type"].get<std::string>(), common::Json::object(), adapter};
    if (!artifacts::is_safe_name(info.id, 128)) return common::fail(common::Errc::kBadField, at + "/id must match [A-Za-z0-9._-]{1,128}");
    if (!artifacts::is_safe_name(info.device_type, 64)) {
      return common::fail(common::Errc::kBadField, at + "/device_type must match [A-Za-z0-9._-]{1,64}");
    }
    if (c.contains("identity")) {
      const auto& identity = c["identity"];
      if (!identity.is_object() || identity.size() > 16) {
        return common::fail(common::Errc::kBadField, at + "/identity must be an object of at most 16 strings");
      }
      for (const auto& [name, value] : identity.items()) {
        if (!artifacts::is_safe_name(name, 64) || !value.is_string() || value.get_ref<const std::string&>().size() > 256) {
          return common::fail(common::Errc::kBadField, at + "/identity members must be strings of at most 256 bytes under plain names");
        }
      }
      info.identity = identity;
    }
    children.push_back(std::move(info));
  }
  return children;
}

common::Result<std::map<std::string, ComponentState>> parse_versions(std::string_view output) {
  auto parsed = common::parse_json_strict(output, {.max_bytes = 1 << 20, .max_depth = 8});
  auto doc = parsed ? std::move(*parsed) : common::Json();
  auto bad = [](const std::string& why) { return common::fail(common::Errc::kBadField, why); };
  if (!doc.is_object() || !doc.contains("components") || !doc["components"].is_object()) {
    return common::fail(common::Errc::kBadJson, "stdout is not {\"components\": {...}}: " + first_line(std::string(output)));
  }
  if (doc["components"].size() > kMaxComponents) return bad("more than 64 components");
  std::map<std::string, ComponentState> out;
  for (const auto& [component, value] : doc["components"].items()) {
    if (!artifacts::is_safe_name(component, 64)) return bad("/components/" + component.substr(0, 64) + " is not a component name");
    if (!value.is_object() || !value.contains("version") || !value["version"].is_string() ||
        value["version"].get_ref<const std::string&>().size() > 256 || !common::Version::parse(value["version"].get<std::string>())) {
      return bad("/components/" + component + "/version must be a SemVer string");
    }
    std::int64_t security = 0;
    if (value.contains("security_version")) {
      if (!value["security_version"].is_number_integer() || value["security_version"].get<std::int64_t>() < 0 ||
          value["security_version"].get<std::int64_t>() > (std::int64_t{1} << 53)) {
        return bad("/components/" + component + "/security_version must be an integer from 0 to 2^53");
      }
      security = value["security_version"].get<std::int64_t>();
    }
    out[component] = {value["version"].get<std::string>(), security};
  }
  return out;
}

common::Result<std::vector<ChildInfo>> ChildAdapter::list() {
  auto result = run({"list"});
  if (result.outcome != StepOutcome::kDone) return common::fail(common::Errc::kIo, result.detail);
  return parse_children(result.output, name());
}

StepResult ChildAdapter::versions(const std::string& child, std::map<std::string, ComponentState>& out) {
  auto result = run({"versions", child});
  if (result.outcome != StepOutcome::kDone) return result;
  auto parsed = parse_versions(result.output);
  if (!parsed) return {StepOutcome::kFailed, "adapter " + name() + " versions " + child + ": " + parsed.error().message(), ""};
  out = std::move(*parsed);
  return result;
}

StepResult ChildAdapter::install(const std::string& child, const fs::path& workdir) {
  return run({"install", child, workdir.string()});
}

StepResult ChildAdapter::activate(const std::string& child) { return run({"activate", child}); }

StepResult ChildAdapter::rollback(const std::string& child) { return run({"rollback", child}); }

common::Result<std::vector<ChildAdapter>> load_adapters(const fs::path& dir, std::chrono::seconds timeout, Env& env) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || ::access(entry.path().c_str(), X_OK) != 0) continue;
    found.push_back(entry.path());
  }
  if (ec) return common::fail(common::Errc::kIo, "/gateway/adapters_dir: cannot read " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());
  std::vector<ChildAdapter> adapters;
  for (auto& path : found) adapters.emplace_back(std::move(path), timeout, env);
  return adapters;
}

}  // namespace flotilla::client
