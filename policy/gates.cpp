#include "policy/gates.hpp"

#include <algorithm>

namespace flotilla::policy {

bool is_finished(DeviceState state) {
  return state == DeviceState::kSucceeded || state == DeviceState::kFailed || state == DeviceState::kRolledBack ||
         state == DeviceState::kTimedOut;
}

bool is_in_progress(DeviceState state) { return state != DeviceState::kPending && !is_finished(state); }

namespace {

// Success rate in parts per million; an empty wave counts as 100 %.
std::uint32_t success_ppm(const WaveReport& w) {
  std::int64_t finished = w.succeeded + w.failed;
  if (finished == 0) return 1000000;
  return static_cast<std::uint32_t>(w.succeeded * 1000000 / finished);
}

std::vector<WaveReport> wave_reports(const GateInput& in) {
  std::vector<WaveReport> waves(in.policy->waves.size());
  for (std::size_t k = 0; k < waves.size(); ++k) waves[k].wave = static_cast<int>(k);
  for (const auto& p : *in.placements) {
    if (!p.wave || p.membership != Membership::kEligible) continue;
    auto& w = waves[static_cast<std::size_t>(*p.wave)];
    ++w.eligible;
    auto it = in.states.find(p.device_id);
    DeviceState state = it == in.states.end() ? DeviceState::kPending : it->second;
    if (state == DeviceState::kPending) {
      ++w.pending;
    } else if (state == DeviceState::kSucceeded) {
      ++w.succeeded;
    } else if (is_finished(state)) {
      ++w.failed;
    } else {
      ++w.in_progress;
    }
  }
  for (auto& w : waves) {
    w.complete = w.pending == 0 && w.in_progress == 0;
    if (auto done = in.completed_at.find(w.wave); done != in.completed_at.end()) {
      w.completed_at = done->second;
    } else if (w.complete) {
      w.completed_at = in.now;
    }
  }
  return waves;
}

}  // namespace

GateDecision evaluate_gates(const GateInput& in) {
  GateDecision d;
  d.waves = wave_reports(in);
  const auto& waves = in.policy->waves;

  // The guard looks at the whole rollout.
  if (in.policy->failure) {
    std::int64_t failed = 0, finished = 0;
    for (const auto& w : d.waves) {
      failed += w.failed;
      finished += w.failed + w.succeeded;
    }
    failed = std::max<std::int64_t>(0, failed - in.acknowledged_failed);
    finished = std::max<std::int64_t>(0, finished - in.acknowledged_finished);
    const auto& guard = *in.policy->failure;
    if (finished >= guard.min_finished && finished > 0 &&
        failed * 1000000 > static_cast<std::int64_t>(guard.max_failure_rate.ppm) * finished) {
      d.guard_tripped = true;
      d.reason = std::to_string(failed) + " of " + std::to_string(finished) + " finished devices failed, over " +
                 format_percent(guard.max_failure_rate);
    }
  }

  d.open_waves = waves.empty() ? 0 : 1;
  for (std::size_t k = 0; k + 1 <= waves.size(); ++k) {
    const auto& w = d.waves[k];
    const auto& wave = waves[k];
    auto wait = [&](Waiting why, std::string text) {
      d.waiting = why;
      d.waiting_wave = static_cast<int>(k);
      if (d.reason.empty()) d.reason = std::move(text);
    };
    if (!w.complete) {
      wait(Waiting::kDevices, "wave " + wave.name + ": " + std::to_string(w.pending + w.in_progress) +
                                  " device(s) not finished");
      break;
    }
    if (k + 1 == waves.size()) {
      d.waiting = Waiting::kFinished;
      break;
    }
    if (success_ppm(w) < wave.success_threshold.ppm) {
      wait(Waiting::kSuccessThreshold, "wave " + wave.name + ": success rate " + format_percent({success_ppm(w)}) +
                                           " is below " + format_percent(wave.success_threshold));
      break;
    }
    auto soak_end = *w.completed_at + wave.soak;
    if (in.now < soak_end) {
      wait(Waiting::kSoak, "wave " + wave.name + " soaks until " + common::format_rfc3339(soak_end));
      d.wake_at = soak_end;
      break;
    }
    if (wave.manual_approval && !in.approved.contains(static_cast<int>(k))) {
      wait(Waiting::kApproval, "wave " + wave.name + " waits for an operator's approval");
      break;
    }
    d.open_waves = static_cast<int>(k) + 2;
  }
  return d;
}

}  // namespace flotilla::policy
