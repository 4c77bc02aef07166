#include "server/scheduler/rollout_plan.hpp"

#include <algorithm>
#include <unordered_set>

#include "artifacts/manifest.hpp"
#include "common/encoding.hpp"
#include "common/time_zone.hpp"

namespace flotilla::server {

using policy::DeviceState;
using policy::Membership;

const policy::ZoneOffsets& system_zones() {
  static const policy::ZoneOffsets zones = [db = std::make_shared<common::TimeZoneDb>()](
                                               std::string_view zone, common::TimePoint at) -> std::optional<std::chrono::seconds> {
    auto offset = db->offset(zone, at);
    return offset ? std::optional(*offset) : std::nullopt;
  };
  return zones;
}

common::Result<LoadedRollout> load_rollout(const policy::RolloutPolicy& policy, const BundleRecord& bundle) {
  auto manifest = artifacts::parse_manifest(common::as_bytes(bundle.manifest_json));
  if (!manifest) return std::unexpected(manifest.error().with_context("bundle " + bundle.file_sha256));
  LoadedRollout loaded{policy, {manifest->component, manifest->version, {}}};
  for (const auto& r : manifest->requires_) loaded.bundle.requires_.emplace_back(r.component, r.range);
  return loaded;
}

common::Result<LoadedRollout> load_rollout(Store& store, const RolloutRecord& rollout) {
  auto document = common::parse_json_strict(rollout.policy_json);
  if (!document) return std::unexpected(document.error());
  auto parsed = policy::parse_rollout_policy(*document);
  if (!parsed) {
    return common::fail(common::Errc::kBadField, "the stored policy no longer validates: " + parsed.error().front().pointer +
                                                     ": " + parsed.error().front().message);
  }
  auto bundle = store.find_bundle(rollout.bundle);
  if (!bundle) return std::unexpected(bundle.error());
  if (!*bundle) return common::fail(common::Errc::kNotFound, "the rollout's bundle " + rollout.bundle + " is gone");
  return load_rollout(*parsed, **bundle);
}

DeviceState engine_state(std::string_view state) {
  if (state == "pending" || state == "offered") return DeviceState::kOffered;
  if (state == "downloading") return DeviceState::kDownloading;
  if (state == "installing") return DeviceState::kInstalling;
  if (state == "rebooting") return DeviceState::kRebooting;
  if (state == "verifying") return DeviceState::kVerifying;
  if (state == "succeeded") return DeviceState::kSucceeded;
  if (state == "rolled_back") return DeviceState::kRolledBack;
  if (state == "timed_out") return DeviceState::kTimedOut;
  return DeviceState::kFailed;
}

namespace {

policy::FleetDevice fleet_device(RolloutDevice& d) {
  policy::FleetDevice device{.id = std::move(d.id), .type = std::move(d.device_type), .tampered = d.tampered,
                             .wave = d.wave, .busy = d.busy};
  if (d.utc_offset) device.utc_offset = policy::parse_utc_offset(*d.utc_offset);
  if (d.labels_json != "{}") {
    auto labels = common::Json::parse(d.labels_json, nullptr, false);
    if (labels.is_object()) {
      for (const auto& [key, value] : labels.items()) {
        if (value.is_string()) device.labels.emplace(key, value.get<std::string>());
      }
    }
  }
  for (const auto& [component, text] : d.versions) {
    if (auto version = common::Version::parse(text)) device.versions.emplace(component, std::move(*version));
  }
  return device;
}

}  // namespace

common::Result<policy::Snapshot> load_snapshot(Store& store, const RolloutRecord& rollout, const LoadedRollout& loaded) {
  policy::Snapshot s{.rollout_id = std::to_string(rollout.id), .bundle = loaded.bundle,
                     .acknowledged_failed = rollout.acknowledged_failed,
                     .acknowledged_finished = rollout.acknowledged_finished, .zones = system_zones()};
  auto scanned = store.scan_rollout_devices(rollout, loaded.bundle.component, loaded.policy.target.device_types,
                                            [&s](RolloutDevice& d) {
                                              if (d.state) {
                                                std::optional<common::TimePoint> started;
                                                if (d.started_at) started = common::TimePoint(std::chrono::seconds(*d.started_at));
                                                s.progress.emplace(d.id, policy::DeviceProgress{engine_state(*d.state), started,
                                                                                                d.attempts});
                                              }
                                              s.fleet.push_back(fleet_device(d));
                                            });
  if (!scanned) return std::unexpected(scanned.error());
  auto waves = store.rollout_waves(rollout.id);
  if (!waves) return std::unexpected(waves.error());
  for (const auto& w : *waves) {
    if (w.completed_at) s.completed_at.emplace(w.wave, common::TimePoint(std::chrono::seconds(*w.completed_at)));
    if (w.approved_by) s.approved.insert(w.wave);
  }
  return s;
}

namespace {

std::int64_t unix_seconds(common::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// The rollout's state after the gates and the guard had their say.
std::optional<RolloutTransition> next_state(const RolloutRecord& rollout, const LoadedRollout& loaded,
                                            const policy::Evaluation& e, common::TimePoint now, std::string& cause) {
  const auto& p = loaded.policy;
  if (rollout.state == RolloutState::kScheduled && (!p.schedule.not_before || now >= *p.schedule.not_before)) {
    cause = "schedule";
    return RolloutTransition{.rollout_id = rollout.id, .event = RolloutEvent::kStart, .reason = "not_before reached"};
  }
  if (rollout.state != RolloutState::kRunning) return std::nullopt;
  if (e.gates.guard_tripped) {
    cause = "guard";
    auto action = p.failure ? p.failure->action : policy::FailureAction::kPause;
    // A rollback deployment is added by the caller, which knows the bundle.
    return RolloutTransition{.rollout_id = rollout.id,
                             .event = action == policy::FailureAction::kPause ? RolloutEvent::kGuardPause : RolloutEvent::kGuardAbort,
                             .reason = "failure guard: " + e.gates.reason,
                             .withdraw_unfetched = true};
  }
  if (e.gates.waiting == policy::Waiting::kFinished) {
    cause = "gate";
    return RolloutTransition{.rollout_id = rollout.id, .event = RolloutEvent::kFinish, .reason = "every wave finished"};
  }
  return std::nullopt;
}

}  // namespace

RolloutPass plan_pass(const RolloutRecord& rollout, const LoadedRollout& loaded, const policy::Snapshot& snapshot,
                      const policy::Evaluation& e, common::TimePoint now) {
  RolloutPass pass{.rollout_id = rollout.id, .expected_state = rollout.state, .now = unix_seconds(now)};
  // A wave's membership is fixed when it opens; until then it is a
  // forecast that may shift as devices join (docs/policy.md).
  for (std::size_t i = 0; i < e.placements.size(); ++i) {
    const auto& wave = e.placements[i].wave;
    if (wave && *wave < e.gates.open_waves && !snapshot.fleet[i].wave) pass.placed.emplace_back(std::string(e.placements[i].device_id), *wave);
  }
  pass.timed_out = e.time_out;
  for (const auto& w : e.gates.waves) {
    if (w.complete && !snapshot.completed_at.contains(w.wave)) pass.completed_waves.push_back(w.wave);
  }
  pass.transition = next_state(rollout, loaded, e, now, pass.cause);
  auto state = pass.transition ? rollout_event_target(pass.transition->event) : rollout.state;
  // Late joiners of a completed rollout are still offered the update.
  if (state == RolloutState::kRunning || state == RolloutState::kCompleted) pass.offers = e.offer;
  if (state == RolloutState::kAborted) {
    for (const auto& [id, progress] : snapshot.progress) {
      if (progress.state == DeviceState::kSucceeded) pass.rollback_offers.push_back(id);
    }
  }
  pass.reason = e.held_by.empty() ? e.gates.reason : e.held_by;
  return pass;
}

common::Json status_of(const LoadedRollout& loaded, const policy::Snapshot& snapshot, const policy::Evaluation& e,
                       const std::vector<std::string>& offers, common::TimePoint now) {
  const auto& waves = loaded.policy.waves;
  auto reports = e.gates.waves;
  std::unordered_set<std::string_view> offered(offers.begin(), offers.end());
  for (const auto& p : e.placements) {
    if (!p.wave || !offered.contains(p.device_id)) continue;
    auto& w = reports[static_cast<std::size_t>(*p.wave)];
    auto before = snapshot.progress.find(p.device_id);
    if (before == snapshot.progress.end() || before->second.state == DeviceState::kPending) {
      --w.pending;
    } else {
      --w.failed;  // a retry
    }
    ++w.in_progress;
  }
  common::Json out = common::Json::object();
  out["evaluated_at"] = common::format_rfc3339(now);
  std::int64_t skipped = 0, blocked = 0, unplaced = 0, succeeded = 0, failed = 0;
  for (const auto& p : e.placements) {
    if (p.membership == Membership::kSkipped) ++skipped;
    if (p.membership == Membership::kBlocked) ++blocked;
    if (p.membership == Membership::kEligible && !p.wave) ++unplaced;
  }
  common::Json list = common::Json::array();
  for (const auto& w : reports) {
    const auto& wave = waves[static_cast<std::size_t>(w.wave)];
    succeeded += w.succeeded;
    failed += w.failed;
    common::Json item = {{"index", w.wave},          {"name", wave.name},           {"eligible", w.eligible},
                         {"pending", w.pending},     {"in_progress", w.in_progress}, {"succeeded", w.succeeded},
                         {"failed", w.failed},       {"complete", w.complete},       {"open", w.wave < e.gates.open_waves},
                         {"manual_approval", wave.manual_approval},
                         {"approved", snapshot.approved.contains(w.wave)}};
    if (auto done = snapshot.completed_at.find(w.wave); done != snapshot.completed_at.end()) {
      item["completed_at"] = common::format_rfc3339(done->second);
    }
    list.push_back(std::move(item));
  }
  out["waves"] = std::move(list);
  out["skipped"] = skipped;
  out["blocked"] = blocked;
  out["unplaced"] = unplaced;
  std::int64_t finished = succeeded + failed;
  out["success_rate"] = finished ? static_cast<double>(succeeded) / static_cast<double>(finished) : 0.0;
  out["failure_rate"] = finished ? static_cast<double>(failed) / static_cast<double>(finished) : 0.0;
  static constexpr std::string_view kWaiting[] = {"nothing", "devices", "success_threshold", "soak", "approval", "finished"};
  out["waiting_for"] = kWaiting[static_cast<int>(e.gates.waiting)];
  if (e.gates.waiting_wave) out["waiting_wave"] = *e.gates.waiting_wave;
  if (e.gates.wake_at) out["wake_at"] = common::format_rfc3339(*e.gates.wake_at);
  out["reason"] = e.gates.reason;
  out["held_by"] = e.held_by;
  out["guard_tripped"] = e.gates.guard_tripped;
  return out;
}

}  // namespace flotilla::server
