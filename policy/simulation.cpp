#include "policy/simulation.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "signing/digest.hpp"

namespace flotilla::policy {

namespace {

// A number in [0, 1) from the seed, the device and the attempt: the same
// device behaves the same in every run with that seed.
double draw(std::uint64_t seed, const std::string& device, std::int64_t attempt, char purpose) {
  signing::Sha256 hasher;
  hasher.update(std::to_string(seed) + '\0' + device + '\0' + std::to_string(attempt) + purpose);
  auto digest = hasher.finish();
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = value << 8 | digest[static_cast<std::size_t>(i)];
  return static_cast<double>(value >> 11) / static_cast<double>(std::uint64_t{1} << 53);
}

struct InFlight {
  common::TimePoint finish_at;
  DeviceState outcome;
};

std::string counts(const WaveReport& w) {
  return std::to_string(w.succeeded) + " succeeded, " + std::to_string(w.failed) + " failed";
}

}  // namespace

SimulationResult simulate(const RolloutPolicy& policy, const BundleFacts& bundle, std::vector<FleetDevice> fleet,
                          const SimulationOptions& o) {
  SimulationResult result;
  Snapshot s{.rollout_id = "simulation:" + policy.name, .bundle = bundle, .fleet = std::move(fleet)};
  std::map<std::string, InFlight> in_flight;
  std::set<int> opened;
  auto note = [&](common::TimePoint at, std::string what) { result.timeline.push_back({at, std::move(what)}); };
  const auto end = o.start + o.horizon;
  note(o.start, "rollout created");
  bool placed = false, running = false, guard_noted = false;

  for (auto now = o.start; now <= end; now += o.step) {
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      if (it->second.finish_at > now) {
        ++it;
        continue;
      }
      auto& p = s.progress[it->first];
      if (p.state != DeviceState::kTimedOut) p.state = it->second.outcome;
      it = in_flight.erase(it);
    }
    auto e = evaluate(policy, s, now);
    if (!placed) {
      // Like the server: the first evaluation fixes every device's wave.
      for (std::size_t i = 0; i < s.fleet.size(); ++i) s.fleet[i].wave = e.placements[i].wave;
      result.placements = e.placements;
      placed = true;
    }
    if (!running && e.held_by.rfind("not before", 0) != 0) {
      running = true;
      if (now != o.start) note(now, "not_before reached: the rollout starts");
    }
    for (const auto& id : e.time_out) {
      s.progress[id].state = DeviceState::kTimedOut;
      note(now, "device " + id.substr(0, 12) + " timed out");
    }
    for (const auto& w : e.gates.waves) {
      if (w.complete && opened.contains(w.wave) && !s.completed_at.contains(w.wave)) {
        s.completed_at[w.wave] = now;
        note(now, "wave " + policy.waves[static_cast<std::size_t>(w.wave)].name + " complete: " + counts(w));
      }
    }
    if (e.gates.guard_tripped && !guard_noted) {
      guard_noted = true;
      auto action = policy.failure ? policy.failure->action : FailureAction::kPause;
      const char* what = action == FailureAction::kPause ? "pause" : action == FailureAction::kAbort ? "abort" : "abort_and_rollback";
      note(now, "failure guard trips (" + e.gates.reason + "): " + what);
      result.outcome = action == FailureAction::kPause ? "paused" : "aborted";
      break;
    }
    if (e.gates.waiting == Waiting::kApproval && e.gates.waiting_wave && !s.approved.contains(*e.gates.waiting_wave)) {
      // A rehearsal assumes the operator approves as soon as asked.
      s.approved.insert(*e.gates.waiting_wave);
      note(now, "wave " + policy.waves[static_cast<std::size_t>(*e.gates.waiting_wave)].name +
                    " waits for manual approval (assumed given now)");
    }
    if (e.gates.waiting == Waiting::kFinished) {
      note(now, "rollout completed");
      result.outcome = "completed";
      break;
    }
    if (e.gates.waiting == Waiting::kSuccessThreshold && e.offer.empty() && in_flight.empty()) {
      // Nothing left to try: only an operator can move it on.
      note(now, e.gates.reason + ": the rollout stalls until an operator decides");
      result.outcome = "stalled";
      break;
    }
    for (int k = static_cast<int>(opened.size()); k < e.gates.open_waves; ++k) {
      opened.insert(k);
      const auto& w = e.gates.waves[static_cast<std::size_t>(k)];
      note(now, "wave " + policy.waves[static_cast<std::size_t>(k)].name + " opens: " + std::to_string(w.eligible) +
                    " device(s)");
    }
    for (const auto& id : e.offer) {
      auto& p = s.progress[id];
      p.state = DeviceState::kOffered;
      p.started_at = now;
      ++p.attempts;
      ++result.offers;
      auto span = static_cast<double>((o.max_install - o.min_install).count());
      auto duration = o.min_install + std::chrono::seconds(static_cast<std::int64_t>(span * draw(o.seed, id, p.attempts, 'd')));
      bool fails = draw(o.seed, id, p.attempts, 'f') < o.failure_rate;
      in_flight[id] = {now + duration, fails ? DeviceState::kFailed : DeviceState::kSucceeded};
    }
  }
  if (result.outcome.empty()) {
    result.outcome = "horizon";
    note(end, "stopped at the simulation horizon");
  }
  result.fleet = std::move(s.fleet);  // the buffer moves, so the placements' views stay valid
  for (const auto& [id, p] : s.progress) {
    if (p.state == DeviceState::kSucceeded) ++result.succeeded;
    if (p.state == DeviceState::kFailed || p.state == DeviceState::kTimedOut || p.state == DeviceState::kRolledBack) {
      ++result.failed;
    }
  }
  return result;
}

}  // namespace flotilla::policy
