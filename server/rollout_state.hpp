// A rollout's state machine (DESIGN.md §7), as one table:
//
//   scheduled ──start──→ running ──finish──→ completed
//        │                 │  ↑                  │
//        └──pause──→ paused ←┘  └──resume──       │
//   scheduled | running | paused | completed ──abort──→ aborted
//   running ──guard-pause──→ paused,  running ──guard-abort──→ aborted
//
// Operators pause, resume and abort (the API); the scheduler starts a
// rollout when its not_before comes, finishes it when every wave did, and
// the failure guard pauses or aborts it. The store applies every change
// through apply_rollout_event, the one place the moves are checked; the
// database keeps the names.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/enum_set.hpp"

namespace flotilla::server {

enum class RolloutState : std::uint8_t { kScheduled, kRunning, kPaused, kCompleted, kAborted };

enum class RolloutEvent : std::uint8_t {
  kStart,       // not_before reached (scheduler)
  kPause,       // by an operator
  kResume,      // by an operator, who has seen the failures so far
  kGuardPause,  // the failure guard tripped, policy action pause
  kGuardAbort,  // the failure guard tripped, policy action abort (or abort_and_rollback)
  kFinish,      // every wave finished (scheduler)
  kAbort,       // by an operator
};

struct RolloutRule {
  RolloutEvent event;
  EnumSet<RolloutState> from;  // the states it applies in
  RolloutState to;
};

inline constexpr std::array<RolloutRule, 7> kRolloutRules = [] {
  using enum RolloutState;
  using Event = RolloutEvent;
  return std::array<RolloutRule, 7>{{
      {Event::kStart, {kScheduled}, kRunning},
      {Event::kPause, {kScheduled, kRunning}, kPaused},
      {Event::kResume, {kPaused}, kRunning},
      {Event::kGuardPause, {kRunning}, kPaused},
      {Event::kGuardAbort, {kRunning}, kAborted},
      {Event::kFinish, {kRunning}, kCompleted},
      {Event::kAbort, {kScheduled, kRunning, kPaused, kCompleted}, kAborted},
  }};
}();

inline constexpr std::array<RolloutState, 5> kRolloutStates = {RolloutState::kScheduled, RolloutState::kRunning,
                                                               RolloutState::kPaused, RolloutState::kCompleted,
                                                               RolloutState::kAborted};

std::string_view rollout_state_name(RolloutState state);
std::optional<RolloutState> parse_rollout_state(std::string_view name);
std::string_view rollout_event_name(RolloutEvent event);
// Where `event` leads (each event has one target).
RolloutState rollout_event_target(RolloutEvent event);
// The table's answer for a rollout in `from`, or nullopt: refused.
std::optional<RolloutState> apply_rollout_event(RolloutState from, RolloutEvent event);

}  // namespace flotilla::server
