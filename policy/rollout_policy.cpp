#include "policy/rollout_policy.hpp"

#include <set>

namespace flotilla::policy {

using common::Json;
using common::pointer_join;

namespace {

std::optional<std::chrono::seconds> duration_of(std::string_view text) { return parse_duration(text); }
std::optional<Percent> percent_of(std::string_view text) { return parse_percent(text); }
std::optional<common::TimePoint> time_of(std::string_view text) {
  auto t = common::parse_rfc3339(text);
  return t ? std::optional(*t) : std::nullopt;
}
std::optional<common::Version> version_of(std::string_view text) {
  auto v = common::Version::parse(text);
  return v ? std::optional(*v) : std::nullopt;
}

std::optional<BundleRef> bundle_ref(Validator& v, const Json& parent, const std::string& pointer, std::string_view key,
                                    bool required) {
  auto it = parent.find(key);
  if (it == parent.end()) {
    if (required) v.fail(Errc::kMissing, pointer_join(pointer, key), "is required");
    return std::nullopt;
  }
  std::string here = pointer_join(pointer, key);
  if (!v.object(*it, here, {"name", "version"})) return std::nullopt;
  auto name = v.string(*it, here, "name", true, 128);
  auto version = v.parsed<common::Version>(*it, here, "version", true, version_of, "a SemVer 2.0 version");
  if (name && !is_plain_name(*name)) v.fail(Errc::kBadName, pointer_join(here, "name"), "must match [A-Za-z0-9._-]{1,128}");
  if (!name || !version) return std::nullopt;
  return BundleRef{*name, *version};
}

std::map<std::string, std::string> labels(Validator& v, const Json& parent, const std::string& pointer, std::string_view key) {
  std::map<std::string, std::string> out;
  auto it = parent.find(key);
  if (it == parent.end()) return out;
  std::string here = pointer_join(pointer, key);
  if (!it->is_object() || it->size() > 64) {
    v.fail(Errc::kWrongType, here, "must be an object of at most 64 labels");
    return out;
  }
  for (const auto& [name, value] : it->items()) {
    if (!is_plain_name(name, 64) || !value.is_string() || value.get_ref<const std::string&>().size() > 256) {
      v.fail(Errc::kWrongType, pointer_join(here, name), "must be a label name with a string value of at most 256 characters");
      continue;
    }
    out[name] = value.get<std::string>();
  }
  return out;
}

Target parse_target(Validator& v, const Json& doc) {
  Target target;
  auto it = doc.find("target");
  if (it == doc.end()) {
    v.fail(Errc::kMissing, "/target", "is required");
    return target;
  }
  if (!v.object(*it, "/target", {"device_types", "labels", "exclude_labels", "exclude_tampered"})) return target;
  if (const Json* types = v.array(*it, "/target", "device_types", true, 64)) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < types->size(); ++i) {
      const Json& t = (*types)[i];
      std::string where = pointer_join("/target/device_types", i);
      if (!t.is_string() || !is_plain_name(t.get_ref<const std::string&>(), 64)) {
        v.fail(Errc::kBadValue, where, "must be a device type");
      } else if (!seen.insert(t.get<std::string>()).second) {
        v.fail(Errc::kDuplicate, where, "is listed twice");
      } else {
        target.device_types.push_back(t.get<std::string>());
      }
    }
  }
  target.labels = labels(v, *it, "/target", "labels");
  target.exclude_labels = labels(v, *it, "/target", "exclude_labels");
  target.exclude_tampered = v.boolean(*it, "/target", "exclude_tampered").value_or(false);
  return target;
}

std::vector<Wave> parse_waves(Validator& v, const Json& doc) {
  std::vector<Wave> waves;
  const Json* list = v.array(doc, "", "waves", true, kMaxWaves);
  if (!list) return waves;
  std::set<std::string> names;
  std::optional<Percent> previous;
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string here = pointer_join("/waves", i);
    const Json& w = (*list)[i];
    if (!v.object(w, here, {"name", "size", "min_devices", "soak", "success_threshold", "approval"})) continue;
    Wave wave;
    if (auto name = v.string(w, here, "name", true, 64)) {
      if (!is_plain_name(*name, 64)) {
        v.fail(Errc::kBadName, pointer_join(here, "name"), "must match [A-Za-z0-9._-]{1,64}");
      } else if (!names.insert(*name).second) {
        v.fail(Errc::kDuplicate, pointer_join(here, "name"), "\"" + *name + "\" names an earlier wave too");
      }
      wave.name = *name;
    }
    if (auto size = v.parsed<Percent>(w, here, "size", true, percent_of, "a percentage such as \"10%\"")) {
      if (size->ppm == 0) {
        v.fail(Errc::kOutOfRange, pointer_join(here, "size"), "must be more than 0%");
      } else if (previous && *size < *previous) {
        v.fail(Errc::kInconsistent, pointer_join(here, "size"), format_percent(*size) + " is smaller than the wave before it (" +
                                               format_percent(*previous) + "); sizes are cumulative");
      }
      wave.size = *size;
      previous = *size;
    }
    wave.min_devices = v.integer(w, here, "min_devices", false, 0, 1000000).value_or(0);
    wave.soak = v.parsed<std::chrono::seconds>(w, here, "soak", false, duration_of, "a duration such as \"6h\"")
                    .value_or(std::chrono::seconds(0));
    wave.success_threshold =
        v.parsed<Percent>(w, here, "success_threshold", false, percent_of, "a percentage such as \"98%\"")
            .value_or(Percent{1000000});
    if (auto approval = v.string(w, here, "approval", false, 16)) {
      if (*approval != "manual" && *approval != "auto") v.fail(Errc::kBadValue, pointer_join(here, "approval"), "must be \"manual\" or \"auto\"");
      wave.manual_approval = *approval == "manual";
    }
    waves.push_back(std::move(wave));
  }
  return waves;
}

std::optional<FailureGuard> parse_failure(Validator& v, const Json& doc) {
  auto it = doc.find("failure");
  if (it == doc.end()) return std::nullopt;
  if (!v.object(*it, "/failure", {"max_failure_rate", "min_finished", "action"})) return std::nullopt;
  FailureGuard guard;
  guard.max_failure_rate = v.parsed<Percent>(*it, "/failure", "max_failure_rate", true, percent_of,
                                             "a percentage such as \"5%\"")
                               .value_or(Percent{});
  guard.min_finished = v.integer(*it, "/failure", "min_finished", false, 1, 1000000).value_or(1);
  if (auto action = v.string(*it, "/failure", "action", false, 32)) {
    if (*action == "pause") {
      guard.action = FailureAction::kPause;
    } else if (*action == "abort") {
      guard.action = FailureAction::kAbort;
    } else if (*action == "abort_and_rollback") {
      guard.action = FailureAction::kAbortAndRollback;
    } else {
      v.fail(Errc::kBadValue, "/failure/action", "must be \"pause\", \"abort\" or \"abort_and_rollback\"");
    }
  }
  return guard;
}

Schedule parse_schedule(Validator& v, const Json& doc) {
  Schedule schedule;
  auto it = doc.find("schedule");
  if (it == doc.end()) return schedule;
  if (!v.object(*it, "/schedule", {"not_before", "windows", "windows_apply_to"})) return schedule;
  schedule.not_before = v.parsed<common::TimePoint>(*it, "/schedule", "not_before", false, time_of, "an RFC 3339 time");
  if (const Json* windows = v.array(*it, "/schedule", "windows", false, 32)) {
    for (std::size_t i = 0; i < windows->size(); ++i) {
      std::string here = pointer_join("/schedule/windows", i);
      const Json& w = (*windows)[i];
      if (!v.object(w, here, {"days", "start", "duration", "tz"})) continue;
      Window window;
      if (const Json* days = v.array(w, here, "days", true, 7)) {
        std::set<int> seen;
        for (std::size_t d = 0; d < days->size(); ++d) {
          auto day = (*days)[d].is_string() ? parse_weekday((*days)[d].get_ref<const std::string&>()) : std::nullopt;
          if (!day) {
            v.fail(Errc::kBadValue, pointer_join(pointer_join(here, "days"), d), "must be one of mon, tue, wed, thu, fri, sat, sun");
          } else if (!seen.insert(*day).second) {
            v.fail(Errc::kDuplicate, pointer_join(pointer_join(here, "days"), d), "is listed twice");
          } else {
            window.days.push_back(*day);
          }
        }
      }
      window.start = v.parsed<std::chrono::minutes>(w, here, "start", true, parse_time_of_day, "a time of day such as \"01:00\"")
                         .value_or(std::chrono::minutes(0));
      if (auto duration = v.parsed<std::chrono::seconds>(w, here, "duration", true, duration_of, "a duration such as \"4h\"")) {
        if (duration->count() == 0 || *duration > std::chrono::hours(24 * 7)) {
          v.fail(Errc::kOutOfRange, pointer_join(here, "duration"), "must be more than 0 and at most 7d");
        }
        window.duration = *duration;
      }
      window.tz = v.parsed<TimeZone>(w, here, "tz", false, parse_time_zone,
                                     "UTC, an offset such as \"+05:30\", an IANA zone name or \"device\"")
                      .value_or(TimeZone{});
      schedule.windows.push_back(std::move(window));
    }
  }
  if (auto applies = v.string(*it, "/schedule", "windows_apply_to", false, 16)) {
    if (*applies == "all") {
      schedule.applies_to = Schedule::AppliesTo::kAll;
    } else if (*applies == "activate") {
      schedule.applies_to = Schedule::AppliesTo::kActivate;
    } else {
      v.fail(Errc::kBadValue, "/schedule/windows_apply_to", "must be \"all\" or \"activate\"");
    }
  }
  return schedule;
}

}  // namespace

std::optional<TimeZone> parse_time_zone(std::string_view text) {
  if (text == "UTC") return TimeZone{};
  if (text == "device") return TimeZone{TimeZone::Kind::kDevice, {}, {}};
  if ((text.starts_with('+') || text.starts_with('-')) && text.size() == 6 && text[3] == ':') {
    auto minutes = parse_time_of_day(text.substr(1));
    if (!minutes || *minutes > std::chrono::hours(14)) return std::nullopt;
    return TimeZone{TimeZone::Kind::kFixed, text[0] == '-' ? -*minutes : *minutes, {}};
  }
  // IANA names: "Area/Location[/Sub]" of letters, digits, '_', '-', '+'.
  if (text.empty() || text.size() > 64 || text.front() == '/' || text.back() == '/' ||
      text.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  for (char c : text) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  return TimeZone{TimeZone::Kind::kIana, {}, std::string(text)};
}

std::expected<RolloutPolicy, PolicyErrors> parse_rollout_policy(const Json& doc) {
  Validator v;
  if (!v.object(doc, "", {"name", "bundle", "target", "waves", "failure", "pace", "schedule", "deadline",
                          "enforce_after_deadline", "device_timeout", "device_retries", "allow_downgrade", "on_abort"})) {
    return std::unexpected(v.errors());
  }
  RolloutPolicy policy;
  if (auto name = v.string(doc, "", "name", true, 128)) {
    if (!is_plain_name(*name)) v.fail(Errc::kBadName, "/name", "must match [A-Za-z0-9._-]{1,128}");
    policy.name = *name;
  }
  if (auto bundle = bundle_ref(v, doc, "", "bundle", true)) policy.bundle = *bundle;
  policy.target = parse_target(v, doc);
  policy.waves = parse_waves(v, doc);
  policy.failure = parse_failure(v, doc);
  if (auto pace = doc.find("pace"); pace != doc.end() && v.object(*pace, "/pace", {"max_in_progress", "max_starts_per_hour"})) {
    policy.pace.max_in_progress = v.integer(*pace, "/pace", "max_in_progress", false, 1, 10000000);
    policy.pace.max_starts_per_hour = v.integer(*pace, "/pace", "max_starts_per_hour", false, 1, 100000000);
  }
  policy.schedule = parse_schedule(v, doc);
  policy.deadline = v.parsed<common::TimePoint>(doc, "", "deadline", false, time_of, "an RFC 3339 time");
  policy.enforce_after_deadline = v.boolean(doc, "", "enforce_after_deadline").value_or(false);
  if (policy.enforce_after_deadline && !policy.deadline) {
    v.fail(Errc::kMissing, "/enforce_after_deadline", "needs a /deadline");
  }
  policy.device_timeout = v.parsed<std::chrono::seconds>(doc, "", "device_timeout", false, duration_of, "a duration such as \"6h\"");
  policy.device_retries = v.integer(doc, "", "device_retries", false, 0, 10).value_or(0);
  policy.allow_downgrade = v.boolean(doc, "", "allow_downgrade").value_or(false);
  if (auto on_abort = doc.find("on_abort"); on_abort != doc.end() && v.object(*on_abort, "/on_abort", {"rollback_bundle"})) {
    policy.rollback_bundle = bundle_ref(v, *on_abort, "/on_abort", "rollback_bundle", true);
  }
  if (policy.failure && policy.failure->action == FailureAction::kAbortAndRollback && !doc.contains("on_abort")) {
    v.fail(Errc::kMissing, "/on_abort/rollback_bundle", "is required when /failure/action is abort_and_rollback");
  }
  if (policy.schedule.not_before && policy.deadline && *policy.deadline <= *policy.schedule.not_before) {
    v.fail(Errc::kInconsistent, "/deadline", "is not after /schedule/not_before");
  }
  if (!v.ok()) return std::unexpected(v.errors());
  return policy;
}

}  // namespace flotilla::policy
