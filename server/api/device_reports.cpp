#include "server/api/device_reports.hpp"

#include "artifacts/manifest.hpp"
#include "common/semver.hpp"
#include "common/time.hpp"
#include "policy/windows.hpp"
#include "server/api/reply.hpp"
#include "server/deployment_state.hpp"
#include "signing/digest.hpp"

namespace flotilla::server::api {
namespace {

// Validates the component map of an inventory report.
std::optional<http::Response> check_components(const common::JsonObject& body) {
  auto components = body.object("components");
  if (!components) return problem_from(components.error());
  if (components->json().size() > 64) return problem(400, "too many components", {{"/components", "at most 64"}});
  for (const auto& [name, value] : components->json().items()) {
    std::string where = components->pointer_to(name);
    if (!artifacts::is_safe_name(name, 64)) return problem(400, "invalid component", {{where, "is not a valid component name"}});
    auto entry = common::JsonObject::of(value, where);
    if (!entry) return problem_from(entry.error());
    if (auto ok = entry->only_keys({"version", "security_version"}); !ok) return problem_from(ok.error());
    auto version = entry->string("version", 256);
    if (!version) return problem_from(version.error());
    if (!common::Version::parse(*version)) return problem(400, "invalid version", {{where + "/version", "is not SemVer 2.0"}});
    auto security = entry->integer("security_version", 0, std::int64_t{1} << 53);
    if (!security) return problem_from(security.error());
  }
  return std::nullopt;
}

// Tamper signals: {"check-name": {"ok": bool, "detail": "..."}}. Any
// failed check flags the device.
std::expected<bool, http::Response> tamper_flag(const common::JsonObject& body) {
  if (!body.has("tamper")) return false;
  auto tamper = body.object("tamper");
  if (!tamper) return std::unexpected(problem_from(tamper.error()));
  if (tamper->json().size() > 32) return std::unexpected(problem(400, "too many tamper checks", {{"/tamper", "at most 32"}}));
  bool tampered = false;
  for (const auto& [name, value] : tamper->json().items()) {
    std::string where = tamper->pointer_to(name);
    if (!value.is_object() || !value.contains("ok") || !value["ok"].is_boolean()) {
      return std::unexpected(problem(400, "invalid tamper signal", {{where, "must be an object with a boolean ok"}}));
    }
    tampered = tampered || !value["ok"].get<bool>();
  }
  return tampered;
}

}  // namespace

std::expected<InventoryReport, http::Response> inventory_report_of(const http::Request& request,
                                                                   const common::JsonObject& body, const common::Json& doc) {
  auto counter = body.integer("counter", 1, kMaxDeviceCounter);
  if (!counter) return std::unexpected(problem_from(counter.error()));
  auto timestamp = body.string("timestamp", 64);
  if (!timestamp) return std::unexpected(problem_from(timestamp.error()));
  if (!common::parse_rfc3339(*timestamp)) return std::unexpected(problem(400, "invalid timestamp", {{"/timestamp", "is not RFC 3339"}}));
  if (auto bad = check_components(body)) return std::unexpected(*bad);
  for (const char* key : {"booted_slot", "agent_version", "utc_offset"}) {
    if (body.has(key)) {
      if (auto text = body.string(key, 64); !text) return std::unexpected(problem_from(text.error()));
    }
  }
  if (body.has("utc_offset") && !policy::parse_utc_offset(doc["utc_offset"].get<std::string>())) {
    return std::unexpected(problem(400, "invalid UTC offset", {{"/utc_offset", "must be \"UTC\" or an offset such as \"+05:30\""}}));
  }
  if (body.has("health") && !doc["health"].is_object()) return std::unexpected(problem(400, "invalid health", {{"/health", "must be an object"}}));
  auto tampered = tamper_flag(body);
  if (!tampered) return std::unexpected(tampered.error());
  InventoryReport report{*counter, request.body, *request.header("X-Flotilla-Signature"), signing::sha256_hex(request.body),
                         *tampered};
  for (const auto& [name, value] : doc["components"].items()) {
    report.components.push_back({name, value["version"].get<std::string>(), value["security_version"].get<std::int64_t>()});
  }
  if (doc.contains("utc_offset")) report.utc_offset = doc["utc_offset"].get<std::string>();
  return report;
}

std::optional<http::Response> check_identity(const common::JsonObject& identity, bool may_be_empty) {
  if ((identity.json().empty() && !may_be_empty) || identity.json().size() > 16) {
    return problem(400, "invalid identity", {{identity.pointer(), may_be_empty ? "must have at most 16 attributes" : "must have 1 to 16 attributes"}});
  }
  for (const auto& [name, value] : identity.json().items()) {
    if (!artifacts::is_safe_name(name, 64) || !value.is_string() || value.get_ref<const std::string&>().size() > 256) {
      return problem(400, "invalid identity", {{identity.pointer_to(name), "must be a string of at most 256 bytes under a plain name"}});
    }
  }
  return std::nullopt;
}

std::expected<DeploymentEvent, http::Response> deployment_event_of(const http::Request& request) {
  common::Json doc;
  auto parsed = json_body(request, doc);
  if (!parsed) return std::unexpected(parsed.error());
  const auto& body = *parsed;
  if (auto ok = body.only_keys({"seq", "state", "progress", "message", "time", "running_version"}); !ok) {
    return std::unexpected(problem_from(ok.error()));
  }
  DeploymentEvent event;
  auto seq = body.integer("seq", 1, kMaxDeviceCounter);
  if (!seq) return std::unexpected(problem_from(seq.error()));
  event.seq = *seq;
  auto reported = body.string("state", 32);
  if (!reported) return std::unexpected(problem_from(reported.error()));
  auto state = state_from_device_report(*reported);
  if (!state) {
    return std::unexpected(problem(400, "invalid state", {{"/state", "must be downloading, installing, rebooting, verifying, committed, failed, rolled_back or interrupted"}}));
  }
  event.state = *state;
  if (body.has("progress")) {
    auto progress = body.integer("progress", 0, 100);
    if (!progress) return std::unexpected(problem_from(progress.error()));
    event.progress = *progress;
  }
  if (body.has("message")) {
    auto message = body.string("message", 1024);
    if (!message) return std::unexpected(problem_from(message.error()));
    event.message = *message;
  }
  auto time = body.string("time", 64);
  if (!time) return std::unexpected(problem_from(time.error()));
  if (!common::parse_rfc3339(*time)) return std::unexpected(problem(400, "invalid time", {{"/time", "is not RFC 3339"}}));
  event.time = *time;
  if (body.has("running_version")) {
    auto version = body.string("running_version", 256);
    if (!version) return std::unexpected(problem_from(version.error()));
    if (!common::Version::parse(*version)) return std::unexpected(problem(400, "invalid version", {{"/running_version", "is not SemVer 2.0"}}));
    event.running_version = *version;
  }
  event.body = request.body;
  event.signature = *request.header("X-Flotilla-Signature");
  return event;
}

}  // namespace flotilla::server::api
