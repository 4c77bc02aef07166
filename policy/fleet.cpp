#include "policy/fleet.hpp"

#include <set>

namespace flotilla::policy {

common::Result<std::vector<FleetDevice>> parse_fleet(const common::Json& doc) {
  if (!doc.is_array()) return common::field_error("", "must be an array of devices");
  if (doc.size() > kMaxFleetDevices) return common::field_error("", "more than 1000000 devices");
  std::vector<FleetDevice> fleet;
  fleet.reserve(doc.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    std::string where = common::pointer_join("", i);
    auto entry = common::JsonObject::of(doc[i], where);
    if (!entry) return std::unexpected(entry.error());
    if (auto ok = entry->only_keys({"id", "type", "labels", "versions", "tampered"}); !ok) return std::unexpected(ok.error());
    FleetDevice device;
    auto id = entry->string("id", 128);
    if (!id) return std::unexpected(id.error());
    if (!ids.insert(*id).second) return common::field_error(where + "/id", "is listed twice");
    device.id = *id;
    auto type = entry->string("type", 64);
    if (!type) return std::unexpected(type.error());
    device.type = *type;
    for (const char* key : {"labels", "versions"}) {
      if (!entry->has(key)) continue;
      auto members = entry->object(key);
      if (!members) return std::unexpected(members.error());
      for (const auto& [name, value] : members->json().items()) {
        auto text = members->string(name, 256);
        if (!text) return std::unexpected(text.error());
        if (std::string(key) == "labels") {
          device.labels.emplace(name, *text);
        } else {
          auto version = common::Version::parse(*text);
          if (!version) return common::field_error(members->pointer_to(name), "is not a SemVer 2.0 version");
          device.versions.emplace(name, *version);
        }
      }
    }
    if (entry->has("tampered")) {
      if (!doc[i]["tampered"].is_boolean()) return common::field_error(where + "/tampered", "must be true or false");
      device.tampered = doc[i]["tampered"].get<bool>();
    }
    fleet.push_back(std::move(device));
  }
  return fleet;
}

}  // namespace flotilla::policy
