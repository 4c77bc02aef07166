#include "server/rollout_state.hpp"

#include <gtest/gtest.h>

namespace flotilla::server {
namespace {

using S = RolloutState;
using E = RolloutEvent;

TEST(RolloutState, NamesRoundTrip) {
  for (auto s : kRolloutStates) EXPECT_EQ(parse_rollout_state(rollout_state_name(s)), s);
  EXPECT_FALSE(parse_rollout_state("Running"));
  EXPECT_FALSE(parse_rollout_state(""));
}

TEST(RolloutState, TheTableAllowsWhatOperatorsAndTheSchedulerDo) {
  EXPECT_EQ(apply_rollout_event(S::kScheduled, E::kStart), S::kRunning);
  EXPECT_EQ(apply_rollout_event(S::kScheduled, E::kPause), S::kPaused);
  EXPECT_EQ(apply_rollout_event(S::kPaused, E::kResume), S::kRunning);
  EXPECT_EQ(apply_rollout_event(S::kRunning, E::kGuardAbort), S::kAborted);
  EXPECT_EQ(apply_rollout_event(S::kRunning, E::kFinish), S::kCompleted);
  EXPECT_EQ(apply_rollout_event(S::kCompleted, E::kAbort), S::kAborted);  // to hand out its rollback
  EXPECT_FALSE(apply_rollout_event(S::kRunning, E::kResume));
  EXPECT_FALSE(apply_rollout_event(S::kPaused, E::kGuardPause));  // the guard judges running rollouts only
  EXPECT_FALSE(apply_rollout_event(S::kCompleted, E::kPause));
}

// Aborted is final; every event leads to one state, wherever it applies.
TEST(RolloutState, AbortedIsFinalAndEveryEventHasOneTarget) {
  for (auto e : {E::kStart, E::kPause, E::kResume, E::kGuardPause, E::kGuardAbort, E::kFinish, E::kAbort}) {
    EXPECT_FALSE(apply_rollout_event(S::kAborted, e)) << rollout_event_name(e);
    for (auto s : kRolloutStates) {
      if (auto to = apply_rollout_event(s, e)) {
        EXPECT_EQ(*to, rollout_event_target(e)) << rollout_event_name(e);
      }
    }
  }
}

}  // namespace
}  // namespace flotilla::server
