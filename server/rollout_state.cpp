#include "server/rollout_state.hpp"

namespace flotilla::server {

std::string_view rollout_state_name(RolloutState state) {
  switch (state) {
    case RolloutState::kScheduled: return "scheduled";
    case RolloutState::kRunning: return "running";
    case RolloutState::kPaused: return "paused";
    case RolloutState::kCompleted: return "completed";
    case RolloutState::kAborted: return "aborted";
  }
  return "?";
}

std::optional<RolloutState> parse_rollout_state(std::string_view name) {
  for (auto s : kRolloutStates) {
    if (rollout_state_name(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view rollout_event_name(RolloutEvent event) {
  switch (event) {
    case RolloutEvent::kStart: return "start";
    case RolloutEvent::kPause: return "pause";
    case RolloutEvent::kResume: return "resume";
    case RolloutEvent::kGuardPause: return "guard-pause";
    case RolloutEvent::kGuardAbort: return "guard-abort";
    case RolloutEvent::kFinish: return "finish";
    case RolloutEvent::kAbort: return "abort";
  }
  return "?";
}

RolloutState rollout_event_target(RolloutEvent event) {
  for (const auto& rule : kRolloutRules) {
    if (rule.event == event) return rule.to;
  }
  return RolloutState::kAborted;  // unreachable: every event has its row
}

std::optional<RolloutState> apply_rollout_event(RolloutState from, RolloutEvent event) {
  for (const auto& rule : kRolloutRules) {
    if (rule.event == event && rule.from.contains(from)) return rule.to;
  }
  return std::nullopt;
}

}  // namespace flotilla::server
