#include "artifacts/manifest.hpp"

#include <algorithm>

#include <set>

#include "artifacts/errors.hpp"
#include "common/encoding.hpp"
#include "common/json.hpp"

namespace flotilla::artifacts {

using common::fail;
using common::Json;
using common::JsonObject;
using common::Result;

namespace {

std::unexpected<common::Error> bad(const common::Error& cause) {
  return fail(Errc::kBadManifest, cause.message());
}
std::unexpected<common::Error> bad(std::string_view pointer, std::string_view message) {
  return bad(common::field_error(pointer, message).error());
}

// A safe absolute path: starts with '/', no empty, "." or ".." component,
// no trailing '/', no NUL. The agent still confines it; this refuses the
// obviously hostile early and names the field.
bool is_clean_absolute_path(std::string_view path) {
  if (path.size() < 2 || path.size() > 4096 || path[0] != '/' || path.back() == '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    std::string_view part = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (part.find('\0') != std::string_view::npos) return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

Result<std::string> safe_name(const JsonObject& object, std::string_view key, std::size_t max) {
  auto text = object.string(key, max);
  if (!text) return bad(text.error());
  if (!is_safe_name(*text, max)) {
    return bad(object.pointer_to(key),
               "must match [A-Za-z0-9._-]{1," + std::to_string(max) + "} and not be . or ..");
  }
  return text;
}

Result<Payload> parse_payload(const Json& value, const std::string& pointer) {
  auto object = JsonObject::of(value, pointer);
  if (!object) return bad(object.error());
  Payload payload;
  auto name = safe_name(*object, "name", 128);
  if (!name) return std::unexpected(name.error());
  payload.name = *name;
  auto type = object->string("type", 32);
  if (!type) return bad(type.error());

  auto size = object->integer("size", 0, static_cast<std::int64_t>(kMaxPayloadSize));
  if (!size) return bad(size.error());
  payload.size = static_cast<std::uint64_t>(*size);
  auto digest = object->string("sha256", 64);
  if (!digest) return bad(digest.error());
  if (!common::is_sha256_hex(*digest)) {
    return bad(object->pointer_to("sha256"), "must be 64 lowercase hex digits");
  }
  payload.sha256 = *digest;

  if (*type == "raw-image") {
    payload.type = PayloadType::kRawImage;
    if (auto ok = object->only_keys({"name", "type", "slot", "size", "sha256"}); !ok) return bad(ok.error());
    auto slot = safe_name(*object, "slot", 64);
    if (!slot) return std::unexpected(slot.error());
    payload.slot = *slot;
  } else if (*type == "file") {
    payload.type = PayloadType::kFile;
    if (auto ok = object->only_keys({"name", "type", "path", "mode", "size", "sha256"}); !ok) {
      return bad(ok.error());
    }
    auto path = object->string("path", 4096);
    if (!path) return bad(path.error());
    if (!is_clean_absolute_path(*path)) {
      return bad(object->pointer_to("path"),
                 "must be an absolute path without empty, '.' or '..' components");
    }
    payload.path = *path;
    if (object->has("mode")) {
      auto mode = object->string("mode", 8);
      if (!mode) return bad(mode.error());
      // Four octal digits at most; setuid/setgid/sticky bits are refused:
      // a bundle must not be able to plant a privileged executable.
      bool octal = !mode->empty() && mode->size() <= 4 &&
                   mode->find_first_not_of("01234567") == std::string::npos;
      std::uint32_t bits = octal ? static_cast<std::uint32_t>(std::stoul(*mode, nullptr, 8)) : 0;
      if (!octal || bits > 0777) {
        return bad(object->pointer_to("mode"), "must be octal permission bits such as \"0644\" (no setuid, setgid or sticky)");
      }
      payload.mode = bits;
    }
  } else if (*type == "module") {
    payload.type = PayloadType::kModule;
    if (auto ok = object->only_keys({"name", "type", "module", "size", "sha256"}); !ok) return bad(ok.error());
    auto module = safe_name(*object, "module", 128);
    if (!module) return std::unexpected(module.error());
    payload.module = *module;
  } else if (*type == "swu") {
    payload.type = PayloadType::kSwu;
    if (auto ok = object->only_keys({"name", "type", "size", "sha256"}); !ok) return bad(ok.error());
  } else {
    return bad(object->pointer_to("type"), "must be \"raw-image\", \"file\", \"module\" or \"swu\"");
  }
  return payload;
}

}  // namespace

bool is_safe_name(std::string_view name, std::size_t max_length) {
  if (name.empty() || name.size() > max_length || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string_view payload_type_name(PayloadType type) {
  switch (type) {
    case PayloadType::kRawImage: return "raw-image";
    case PayloadType::kFile: return "file";
    case PayloadType::kModule: return "module";
    case PayloadType::kSwu: return "swu";
  }
  return "";
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kOs: return "os";
    case Kind::kDriver: return "driver";
    case Kind::kFirmware: return "firmware";
  }
  return "";
}

std::optional<Kind> parse_kind(std::string_view text) {
  if (text == "os") return Kind::kOs;
  if (text == "driver") return Kind::kDriver;
  if (text == "firmware") return Kind::kFirmware;
  return std::nullopt;
}

bool Manifest::is_compatible_with(std::string_view device_type) const {
  for (const auto& type : compatible) {
    if (type == device_type) return true;
  }
  return false;
}

Result<Manifest> parse_manifest(std::span<const std::uint8_t> bytes) {
  auto doc = common::parse_json_strict(common::as_text(bytes),
                                       {.max_bytes = kMaxManifestBytes, .max_depth = 8});
  if (!doc) return fail(Errc::kBadManifest, doc.error().message());
  auto object = JsonObject::of(*doc, "");
  if (!object) return bad(object.error());
  if (auto ok = object->only_keys({"format", "name", "kind", "component", "version",
                                   "security_version", "compatible", "requires", "created",
                                   "reboot", "payloads", "notes"});
      !ok) {
    return bad(ok.error());
  }
  auto format = object->string("format", 64);
  if (!format) return bad(format.error());
  if (*format != kFormat) return bad("/format", "must be \"" + std::string(kFormat) + "\"");

  Manifest manifest;
  auto name = safe_name(*object, "name", 128);
  if (!name) return std::unexpected(name.error());
  manifest.name = *name;
  auto kind = object->string("kind", 16);
  if (!kind) return bad(kind.error());
  auto parsed_kind = parse_kind(*kind);
  if (!parsed_kind) return bad("/kind", "must be \"os\", \"driver\" or \"firmware\"");
  manifest.kind = *parsed_kind;
  auto component = safe_name(*object, "component", 64);
  if (!component) return std::unexpected(component.error());
  manifest.component = *component;

  auto version_text = object->string("version", 256);
  if (!version_text) return bad(version_text.error());
  auto version = common::Version::parse(*version_text);
  if (!version) return bad("/version", version.error().message());
  manifest.version = std::move(*version);
  auto security_version = object->integer("security_version", 0, std::int64_t{1} << 53);
  if (!security_version) return bad(security_version.error());
  manifest.security_version = *security_version;

  auto compatible = object->array("compatible", kMaxCompatible);
  if (!compatible) return bad(compatible.error());
  if ((*compatible)->empty()) return bad("/compatible", "must name at least one device type");
  std::set<std::string> seen_types;
  for (std::size_t i = 0; i < (*compatible)->size(); ++i) {
    const Json& type = (**compatible)[i];
    std::string where = common::pointer_join("/compatible", i);
    if (!type.is_string() || !is_safe_name(type.get_ref<const std::string&>(), 64)) {
      return bad(where, "must be a device type matching [A-Za-z0-9._-]{1,64}");
    }
    if (!seen_types.insert(type.get<std::string>()).second) return bad(where, "is listed twice");
    manifest.compatible.push_back(type.get<std::string>());
  }

  if (object->has("requires")) {
    auto requires_object = object->object("requires");
    if (!requires_object) return bad(requires_object.error());
    if (requires_object->json().size() > kMaxRequires) return bad("/requires", "has too many entries");
    for (const auto& [requirement_component, range_json] : requires_object->json().items()) {
      std::string where = requires_object->pointer_to(requirement_component);
      if (!is_safe_name(requirement_component, 64)) return bad(where, "is not a valid component name");
      if (!range_json.is_string()) return bad(where, "must be a version range string");
      auto range = common::VersionRange::parse(range_json.get_ref<const std::string&>());
      if (!range) return bad(where, range.error().message());
      manifest.requires_.push_back({requirement_component, std::move(*range)});
    }
  }

  auto created_text = object->string("created", 64);
  if (!created_text) return bad(created_text.error());
  auto created = common::parse_rfc3339(*created_text);
  if (!created) return bad("/created", created.error().message());
  manifest.created = *created;

  if (object->has("reboot")) {
    auto reboot = object->string("reboot", 16);
    if (!reboot) return bad(reboot.error());
    if (*reboot != "required" && *reboot != "none") {
      return bad("/reboot", "must be \"required\" or \"none\"");
    }
    manifest.reboot_required = *reboot == "required";
  }
  if (object->has("notes")) {
    auto notes = object->string("notes", 65536);
    if (!notes) return bad(notes.error());
    manifest.notes = *notes;
  }

  auto payloads = object->array("payloads", kMaxPayloads);
  if (!payloads) return bad(payloads.error());
  if ((*payloads)->empty()) return bad("/payloads", "must list at least one payload");
  std::set<std::string> seen_names;
  for (std::size_t i = 0; i < (*payloads)->size(); ++i) {
    std::string where = common::pointer_join("/payloads", i);
    auto payload = parse_payload((**payloads)[i], where);
    if (!payload) return std::unexpected(payload.error());
    if (!seen_names.insert(payload->name).second) {
      return bad(where + "/name", "\"" + payload->name + "\" is used by an earlier payload");
    }
    manifest.payloads.push_back(std::move(*payload));
  }
  // An SWUpdate image is installed by its own client, whole: a bundle
  // mixing it with payloads for flotilla-agent would be half-installed by
  // either kind of device.
  bool swu = std::any_of(manifest.payloads.begin(), manifest.payloads.end(),
                         [](const Payload& p) { return p.type == PayloadType::kSwu; });
  bool other = std::any_of(manifest.payloads.begin(), manifest.payloads.end(),
                           [](const Payload& p) { return p.type != PayloadType::kSwu; });
  if (swu && other) return bad("/payloads", "a bundle with swu payloads carries no other payload type");
  return manifest;
}

std::string serialize_manifest(const Manifest& manifest) {
  Json payloads = Json::array();
  for (const auto& p : manifest.payloads) {
    Json entry = {{"name", p.name}, {"type", payload_type_name(p.type)}, {"size", p.size},
                  {"sha256", p.sha256}};
    switch (p.type) {
      case PayloadType::kRawImage: entry["slot"] = p.slot; break;
      case PayloadType::kModule: entry["module"] = p.module; break;
      case PayloadType::kSwu: break;
      case PayloadType::kFile: {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", p.mode);
        entry["path"] = p.path;
        entry["mode"] = mode;
        break;
      }
    }
    payloads.push_back(std::move(entry));
  }
  Json requires_object = Json::object();
  for (const auto& r : manifest.requires_) requires_object[r.component] = r.range.text();
  Json doc = {{"format", kFormat},
              {"name", manifest.name},
              {"kind", kind_name(manifest.kind)},
              {"component", manifest.component},
              {"version", manifest.version.text()},
              {"security_version", manifest.security_version},
              {"compatible", manifest.compatible},
              {"created", common::format_rfc3339(manifest.created)},
              {"reboot", manifest.reboot_required ? "required" : "none"},
              {"payloads", std::move(payloads)}};
  if (!manifest.requires_.empty()) doc["requires"] = std::move(requires_object);
  if (!manifest.notes.empty()) doc["notes"] = manifest.notes;
  return doc.dump(2) + "\n";
}

}  // namespace flotilla::artifacts
