#include "server/ddi/ddi.hpp"

#include <algorithm>
#include <cstdio>

#include "signing/digest.hpp"

namespace flotilla::server::ddi {
namespace {

using common::Json;
using common::JsonObject;

constexpr std::size_t kMaxDetails = 64;  // SWUpdate batches up to 48 log lines
constexpr std::size_t kMaxDetailLength = 4096;
constexpr std::size_t kMaxAttributes = 64;
constexpr std::size_t kMaxAttributeLength = 512;

std::unexpected<common::Error> bad(const std::string& pointer, const std::string& message) {
  return common::fail(common::Errc::kBadField, pointer + " " + message);
}

Json link(const std::string& href) { return {{"href", href}}; }

// "id" as hawkBit clients send it: a number, or a string of digits.
common::Result<std::int64_t> action_id(const Json& value, const std::string& pointer) {
  if (value.is_number_integer() && value.get<std::int64_t>() > 0) return value.get<std::int64_t>();
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (!text.empty() && text.size() <= 18 && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      auto id = std::stoll(text);
      if (id > 0) return id;
    }
  }
  return bad(pointer, "must be a positive action id (a number or a string of digits)");
}

Json artifact_json(const Action& action, const Artifact& a) {
  std::string href = action.controller_url + "/softwaremodules/" + std::to_string(action.id) + "/artifacts/" + a.filename;
  return {{"filename", a.filename},
          {"hashes", {{"sha1", a.sha1}, {"md5", a.md5}, {"sha256", a.sha256}}},
          {"size", a.size},
          // Both names: clients configured for TLS read "download", others
          // "download-http"; the server's public URL decides the scheme.
          {"_links", {{"download", link(href)}, {"download-http", link(href)}}}};
}

Json chunks(const Action& action) {
  Json artifacts = Json::array();
  for (const auto& a : action.artifacts) artifacts.push_back(artifact_json(action, a));
  return Json::array({{{"part", action.part}, {"version", action.version}, {"name", action.name}, {"artifacts", artifacts}}});
}

Outcome outcome_of(const Feedback& f) {
  if (f.execution == "closed") return f.finished == "success" ? Outcome::kSuccess : Outcome::kFailure;
  if (f.execution == "rejected") return Outcome::kFailure;
  if (f.execution == "canceled") return Outcome::kCanceled;
  if (f.execution == "downloaded") return Outcome::kInstalled;
  if (f.done && f.of && *f.of > 0 && *f.done >= *f.of) return Outcome::kInstalled;
  return Outcome::kProgress;
}

}  // namespace

bool is_controller_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
           c == ':' || c == '@';
  });
}

std::string device_id_for(std::string_view controller_id) {
  return signing::sha256_hex("flotilla-ddi-controller:" + std::string(controller_id));
}

std::optional<std::string> common_name(std::string_view subject) {
  // Attributes are separated by unescaped commas; a value escapes ',', '+',
  // '"', '\\', '<', '>', ';' and '=' with a backslash.
  std::size_t i = 0;
  while (i < subject.size()) {
    std::string type, value;
    while (i < subject.size() && subject[i] != '=' && subject[i] != ',') type += subject[i++];
    if (i < subject.size() && subject[i] == '=') ++i;
    while (i < subject.size() && subject[i] != ',' && subject[i] != '+') {
      if (subject[i] == '\\' && i + 1 < subject.size()) ++i;
      value += subject[i++];
    }
    ++i;  // the separator
    if (type == "CN") return value;
  }
  return std::nullopt;
}

std::string polling_sleep(int seconds) {
  seconds = std::clamp(seconds, 1, 24 * 3600 - 1);
  char text[16];
  std::snprintf(text, sizeof text, "%02d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return text;
}

Json base_poll(const std::string& controller_url, int sleep_seconds, std::optional<std::int64_t> action, bool want_config,
               bool cancel) {
  Json links = Json::object();
  if (action) {
    links[cancel ? "cancelAction" : "deploymentBase"] =
        link(controller_url + (cancel ? "/cancelAction/" : "/deploymentBase/") + std::to_string(*action));
  }
  if (want_config) links["configData"] = link(controller_url + "/configData");
  Json answer = {{"config", {{"polling", {{"sleep", polling_sleep(sleep_seconds)}}}}}};
  if (!links.empty()) answer["_links"] = links;
  return answer;
}

Json cancel_action(std::int64_t id) {
  return {{"id", std::to_string(id)}, {"cancelAction", {{"stopId", std::to_string(id)}}}};
}

Json deployment_base(const Action& action) {
  // "forced": Flotilla's waves, gates and windows already decided when.
  // Never "skip": SWUpdate answers a skip with closed/success, which would
  // count an update nobody installed.
  Json deployment = {{"download", "forced"}, {"update", "forced"}, {"chunks", chunks(action)}};
  if (action.in_window) deployment["maintenanceWindow"] = *action.in_window ? "available" : "unavailable";
  return {{"id", std::to_string(action.id)}, {"deployment", deployment}};
}

Json installed_base(const Action& action) {
  return {{"id", std::to_string(action.id)}, {"deployment", {{"download", "forced"}, {"update", "forced"}, {"chunks", chunks(action)}}}};
}

int Feedback::percent() const {
  if (!done || !of || *of <= 0) return 0;
  return static_cast<int>(std::clamp<std::int64_t>(*done * 100 / *of, 0, 100));
}

common::Result<Feedback> parse_feedback(const std::string& body) {
  // SWUpdate copies its log lines into details unescaped but for quotes
  // and newlines: a tab in a line makes the JSON invalid. Control bytes
  // are spaces here; outside strings they were whitespace or invalid.
  std::string text = body;
  std::replace_if(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
  auto doc = common::parse_json_strict(text, {.max_bytes = 64 * 1024, .max_depth = 8});
  if (!doc) return common::fail(common::Errc::kBadJson, "the feedback is not acceptable JSON: " + doc.error().message());
  auto root = JsonObject::of(*doc, "");
  if (!root) return std::unexpected(root.error());
  if (auto ok = root->only_keys({"id", "time", "status", "actionHistory"}); !ok) return std::unexpected(ok.error());
  Feedback f;
  if (root->has("id")) {
    auto id = action_id(doc->at("id"), "/id");
    if (!id) return std::unexpected(id.error());
    f.id = *id;
  }
  if (root->has("time")) {
    if (auto time = root->string("time", 64); !time) return std::unexpected(time.error());
  }
  auto status = root->object("status");
  if (!status) return std::unexpected(status.error());
  if (auto ok = status->only_keys({"execution", "result", "details", "code"}); !ok) return std::unexpected(ok.error());
  auto execution = status->string("execution", 32);
  if (!execution) return std::unexpected(execution.error());
  static constexpr std::string_view kExecutions[] = {"closed", "proceeding", "canceled", "scheduled", "rejected",
                                                     "resumed", "downloaded", "download"};
  if (std::find(std::begin(kExecutions), std::end(kExecutions), *execution) == std::end(kExecutions)) {
    return bad("/status/execution", "must be closed, proceeding, canceled, scheduled, rejected, resumed, downloaded or download");
  }
  f.execution = *execution;
  f.finished = "none";
  if (status->has("result")) {
    auto result = status->object("result");
    if (!result) return std::unexpected(result.error());
    if (auto ok = result->only_keys({"finished", "progress"}); !ok) return std::unexpected(ok.error());
    if (result->has("finished")) {
      auto finished = result->string("finished", 16);
      if (!finished) return std::unexpected(finished.error());
      if (*finished != "success" && *finished != "failure" && *finished != "none") {
        return bad("/status/result/finished", "must be success, failure or none");
      }
      f.finished = *finished;
    }
    if (result->has("progress")) {
      auto progress = result->object("progress");
      if (!progress) return std::unexpected(progress.error());
      if (auto ok = progress->only_keys({"cnt", "of"}); !ok) return std::unexpected(ok.error());
      auto done = progress->integer("cnt", 0, 1 << 20);
      if (!done) return std::unexpected(done.error());
      f.done = *done;
      if (progress->has("of")) {
        auto of = progress->integer("of", 0, 1 << 20);
        if (!of) return std::unexpected(of.error());
        f.of = *of;
      }
    }
  }
  if (status->has("code")) {
    if (auto code = status->integer("code", -(1 << 30), 1 << 30); !code) return std::unexpected(code.error());
  }
  if (status->has("details")) {
    auto details = status->array("details", kMaxDetails);
    if (!details) return std::unexpected(details.error());
    for (std::size_t i = 0; i < (*details)->size(); ++i) {
      const auto& line = (**details)[i];
      if (!line.is_string() || line.get_ref<const std::string&>().size() > kMaxDetailLength) {
        return bad("/status/details/" + std::to_string(i), "must be a string of at most 4096 bytes");
      }
      if (!f.details.empty()) f.details += "; ";
      f.details += line.get<std::string>();
    }
    // Kept whole up to the cap, then cut at a character boundary.
    if (f.details.size() > kMaxDetailBytes) {
      std::size_t cut = kMaxDetailBytes;
      while (cut > 0 && (static_cast<unsigned char>(f.details[cut]) & 0xC0) == 0x80) --cut;
      f.details.resize(cut);
    }
  }
  f.outcome = outcome_of(f);
  return f;
}

common::Result<Json> apply_config_data(const std::string& body, const Json& attributes) {
  auto doc = common::parse_json_strict(body, {.max_bytes = 64 * 1024, .max_depth = 8});
  if (!doc) return common::fail(common::Errc::kBadJson, "the configData is not acceptable JSON: " + doc.error().message());
  auto root = JsonObject::of(*doc, "");
  if (!root) return std::unexpected(root.error());
  if (auto ok = root->only_keys({"id", "time", "status", "data", "mode"}); !ok) return std::unexpected(ok.error());
  auto data = root->object("data");
  if (!data) return std::unexpected(data.error());
  std::string mode = "merge";
  if (root->has("mode")) {
    auto text = root->string("mode", 16);
    if (!text) return std::unexpected(text.error());
    if (*text != "merge" && *text != "replace" && *text != "remove") return bad("/mode", "must be merge, replace or remove");
    mode = *text;
  }
  Json result = mode == "replace" || !attributes.is_object() ? Json::object() : attributes;
  for (const auto& [key, value] : data->json().items()) {
    if (key.empty() || key.size() > 128 || !value.is_string() || value.get_ref<const std::string&>().size() > kMaxAttributeLength) {
      return bad(data->pointer_to(key), "must be a string of at most 512 bytes under a name of 1 to 128 bytes");
    }
    if (mode == "remove") {
      result.erase(key);
    } else {
      result[key] = value;
    }
  }
  if (result.size() > kMaxAttributes) return bad("/data", "at most 64 attributes are kept per device");
  return result;
}

}  // namespace flotilla::server::ddi
