#include "policy/engine.hpp"

#include <algorithm>
#include <limits>

namespace flotilla::policy {

namespace {

bool may_retry(const RolloutPolicy& policy, const DeviceProgress& p) {
  bool failed = p.state == DeviceState::kFailed || p.state == DeviceState::kRolledBack || p.state == DeviceState::kTimedOut;
  return failed && p.attempts <= policy.device_retries;
}

}  // namespace

Evaluation evaluate(const RolloutPolicy& policy, const Snapshot& snapshot, common::TimePoint now) {
  Evaluation e;
  e.placements = place_devices(policy, snapshot.bundle, snapshot.rollout_id, snapshot.fleet);
  // A device this rollout already worked on stays a member: once updated
  // it runs the bundle's version, and must count as succeeded, not skipped.
  for (auto& p : e.placements) {
    if (p.membership != Membership::kOutside && p.membership != Membership::kEligible && snapshot.progress.contains(p.device_id)) {
      p.membership = Membership::kEligible;
      p.reason.clear();
    }
  }

  // Timeouts first: a device past device_timeout counts as failed for the
  // gates and the guard in this same evaluation.
  auto progress = snapshot.progress;
  // With windows_apply_to activate a device may wait days for its window
  // to reboot: the timeout runs from the later of the offer and the start
  // of its next window.
  const bool activate_windows =
      policy.schedule.applies_to == Schedule::AppliesTo::kActivate && windows_in_force(policy, now);
  std::map<std::string_view, const FleetDevice*> by_id;
  if (activate_windows) {
    for (const auto& d : snapshot.fleet) by_id.emplace(d.id, &d);
  }
  auto timeout_start = [&](const std::string& id, common::TimePoint started) {
    if (!activate_windows) return started;
    auto it = by_id.find(id);
    auto window = next_window(policy.schedule.windows, started, it == by_id.end() ? std::nullopt : it->second->utc_offset,
                              snapshot.zones);
    return window ? std::max(started, window->start) : started;
  };
  if (policy.device_timeout) {
    for (auto& [id, p] : progress) {
      if (is_in_progress(p.state) && p.started_at && now - timeout_start(id, *p.started_at) > *policy.device_timeout) {
        p.state = DeviceState::kTimedOut;
        e.time_out.push_back(id);
      }
    }
  }

  GateInput gates{&policy, &e.placements, {}, snapshot.completed_at, snapshot.approved, now,
                  snapshot.acknowledged_failed, snapshot.acknowledged_finished};
  for (const auto& [id, p] : progress) gates.states[id] = p.state;
  e.gates = evaluate_gates(gates);

  if (e.gates.guard_tripped) {
    e.held_by = "the failure guard tripped: " + e.gates.reason;
    return e;
  }
  if (policy.schedule.not_before && now < *policy.schedule.not_before) {
    e.held_by = "not before " + common::format_rfc3339(*policy.schedule.not_before);
    return e;
  }

  // Pace: what is in flight, and what started within the last hour.
  std::int64_t in_flight = 0, started_last_hour = 0;
  for (const auto& [id, p] : progress) {
    if (is_in_progress(p.state)) ++in_flight;
    if (p.started_at && *p.started_at > now - std::chrono::hours(1) && *p.started_at <= now) ++started_last_hour;
  }
  std::int64_t budget = std::numeric_limits<std::int64_t>::max();
  if (policy.pace.max_in_progress) budget = std::min(budget, *policy.pace.max_in_progress - in_flight);
  if (policy.pace.max_starts_per_hour) budget = std::min(budget, *policy.pace.max_starts_per_hour - started_last_hour);

  // Candidates in the open waves, earliest wave and lowest bucket first.
  std::vector<const Placement*> candidates;
  const bool windows_gate_offers = policy.schedule.applies_to == Schedule::AppliesTo::kAll && windows_in_force(policy, now);
  std::int64_t outside_window = 0;
  for (std::size_t i = 0; i < e.placements.size(); ++i) {
    const auto& p = e.placements[i];
    if (p.membership != Membership::kEligible || !p.wave || *p.wave >= e.gates.open_waves) continue;
    if (snapshot.fleet[i].busy) continue;  // one deployment per device and component: it waits
    if (windows_gate_offers &&
        !in_any_window(policy.schedule.windows, now, snapshot.fleet[i].utc_offset, snapshot.zones)) {
      auto it = progress.find(p.device_id);
      if (it == progress.end() || it->second.state == DeviceState::kPending || may_retry(policy, it->second)) ++outside_window;
      continue;
    }
    auto it = progress.find(p.device_id);
    if (it == progress.end() || it->second.state == DeviceState::kPending || may_retry(policy, it->second)) {
      candidates.push_back(&p);
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Placement* a, const Placement* b) {
    return std::tie(*a->wave, a->bucket, a->device_id) < std::tie(*b->wave, b->bucket, b->device_id);
  });
  if (outside_window > 0) {
    e.held_by = std::to_string(outside_window) + " device(s) wait for their maintenance window";
  }
  for (const Placement* p : candidates) {
    if (static_cast<std::int64_t>(e.offer.size()) >= budget) {
      e.held_by = "pace: " + std::to_string(in_flight) + " in progress, " + std::to_string(started_last_hour) +
                  " started in the last hour";
      break;
    }
    e.offer.emplace_back(p->device_id);
  }
  return e;
}

}  // namespace flotilla::policy
