#include "policy/baseline.hpp"

#include <set>

#include "policy/units.hpp"

namespace flotilla::policy {

using common::Json;
using common::pointer_join;

std::expected<Baseline, PolicyErrors> parse_baseline(const Json& doc) {
  Validator v;
  if (!v.object(doc, "", {"name", "rules", "max_staleness"})) return std::unexpected(v.errors());
  Baseline baseline;
  if (auto name = v.string(doc, "", "name", true, 128)) {
    if (!is_plain_name(*name)) v.fail(Errc::kBadName, "/name", "must match [A-Za-z0-9._-]{1,128}");
    baseline.name = *name;
  }
  if (auto staleness = v.parsed<std::chrono::seconds>(doc, "", "max_staleness", false, parse_duration,
                                                      "a duration such as \"48h\"")) {
    if (staleness->count() == 0) v.fail(Errc::kOutOfRange, "/max_staleness", "must be more than 0");
    baseline.max_staleness = *staleness;
  }
  std::set<std::pair<std::string, std::string>> covered;  // (device type, component)
  if (const Json* rules = v.array(doc, "", "rules", true, 1000)) {
    for (std::size_t i = 0; i < rules->size(); ++i) {
      std::string here = pointer_join("/rules", i);
      const Json& r = (*rules)[i];
      if (!v.object(r, here, {"device_types", "component", "min_version", "min_security_version", "deadline"})) continue;
      BaselineRule rule;
      if (auto component = v.string(r, here, "component", true, 64)) {
        if (!is_plain_name(*component, 64)) v.fail(Errc::kBadName, pointer_join(here, "component"), "must match [A-Za-z0-9._-]{1,64}");
        rule.component = *component;
      }
      if (const Json* types = v.array(r, here, "device_types", true, 64)) {
        for (std::size_t t = 0; t < types->size(); ++t) {
          std::string where = pointer_join(pointer_join(here, "device_types"), t);
          const Json& type = (*types)[t];
          if (!type.is_string() || !is_plain_name(type.get_ref<const std::string&>(), 64)) {
            v.fail(Errc::kBadValue, where, "must be a device type");
            continue;
          }
          // Two rules for one type and component would make the verdict
          // depend on rule order.
          if (!rule.component.empty() && !covered.insert({type.get<std::string>(), rule.component}).second) {
            v.fail(Errc::kDuplicate, where, type.get<std::string>() + " / " + rule.component + " is covered by an earlier rule");
          }
          rule.device_types.push_back(type.get<std::string>());
        }
      }
      rule.min_version = v.parsed<common::Version>(
          r, here, "min_version", false,
          [](std::string_view text) {
            auto parsed = common::Version::parse(text);
            return parsed ? std::optional(*parsed) : std::nullopt;
          },
          "a SemVer 2.0 version");
      rule.min_security_version = v.integer(r, here, "min_security_version", false, 0, std::int64_t{1} << 53);
      if (!rule.min_version && !rule.min_security_version) {
        v.fail(Errc::kMissing, here, "needs min_version or min_security_version");
      }
      rule.deadline = v.parsed<common::TimePoint>(
          r, here, "deadline", false,
          [](std::string_view text) {
            auto t = common::parse_rfc3339(text);
            return t ? std::optional(*t) : std::nullopt;
          },
          "an RFC 3339 time");
      baseline.rules.push_back(std::move(rule));
    }
  }
  if (!v.ok()) return std::unexpected(v.errors());
  return baseline;
}

}  // namespace flotilla::policy
