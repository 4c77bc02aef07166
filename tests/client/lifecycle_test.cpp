// The agent's lifecycle table (client/lifecycle.hpp): every (stage, step)
// pair either has one row or is refused with kBadTransition; the names
// round-trip; docs/agent.md shows exactly this table; and random walks
// through it keep the invariants a device relies on.
#include "client/lifecycle.hpp"

#include <gtest/gtest.h>

#include <random>

#include "client/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::client {
namespace {

TEST(Lifecycle, EveryStageAndStepHasOneRowOrANamedRefusal) {
  for (Stage from : kStages) {
    for (Step step : kSteps) {
      auto rows = std::count_if(kLifecycle.begin(), kLifecycle.end(),
                                [&](const Transition& t) { return t.from == from && t.step == step; });
      ASSERT_LE(rows, 1) << stage_name(from) << " " << step_name(step);
      auto next = next_stage(from, step);
      if (rows == 1) {
        EXPECT_TRUE(next) << stage_name(from) << " " << step_name(step);
        continue;
      }
      ASSERT_FALSE(next) << stage_name(from) << " " << step_name(step);
      EXPECT_TRUE(next.error().is(Errc::kBadTransition));
      EXPECT_NE(next.error().message().find(std::string(stage_name(from))), std::string::npos);
      EXPECT_NE(next.error().message().find(std::string(step_name(step))), std::string::npos);
    }
  }
}

TEST(Lifecycle, NamesRoundTripAndUnknownOnesAreRefused) {
  for (Stage stage : kStages) EXPECT_EQ(parse_stage(stage_name(stage)), stage);
  EXPECT_FALSE(parse_stage("downloading"));
  EXPECT_FALSE(parse_stage(""));
  // The server hears an interruption as the download it goes back to.
  EXPECT_EQ(event_state(Stage::kInterrupted), "interrupted");
  EXPECT_EQ(event_state(Stage::kInstalled), "installing");
  EXPECT_EQ(event_state(Stage::kRolledBack), "rolled_back");
}

TEST(Lifecycle, TheDocumentShowsThisTable) {
  std::string doc = testing::read_text(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "docs" / "agent.md");
  EXPECT_NE(doc.find(lifecycle_markdown()), std::string::npos)
      << "docs/agent.md must contain the table client/lifecycle.hpp defines:\n" << lifecycle_markdown();
}

// Random steps, each refused or taken as the table says, with power cuts
// between them (a cut mid-download is the `cut` step; any other stage is
// persisted as it is). What must hold whatever the order:
TEST(Lifecycle, RandomWalksKeepTheInvariants) {
  std::mt19937 random(20261206);
  for (int walk = 0; walk < 200; ++walk) {
    Stage stage = Stage::kIdle;
    bool written = false;  // an image was written and verified in this attempt
    bool booted = false;   // the device came up again since
    for (int i = 0; i < 60; ++i) {
      Step step = kSteps[std::uniform_int_distribution<std::size_t>(0, kSteps.size() - 1)(random)];
      auto next = next_stage(stage, step);
      if (!next) continue;
      // A commit needs what it rests on: an attempt that was written and
      // came up and passed, or one that needed no trial at all.
      if (*next == Stage::kCommitted) {
        EXPECT_TRUE(step == Step::kFilesInPlace || step == Step::kModuleDone || (written && booted && step == Step::kPass))
            << step_name(step);
      }
      // Nothing is activated (no trial armed) before the image was written and verified.
      if (step == Step::kArm) {
        EXPECT_TRUE(written);
      }
      // A trial is armed again only for a slot that was written and came up.
      if (step == Step::kRetryTrial) {
        EXPECT_TRUE(written && booted);
      }
      if (step == Step::kStart) written = booted = false;
      if (step == Step::kWrite) written = true;
      if (step == Step::kBoot) booted = true;
      stage = *next;
      // A new install never starts while one waits for its trial.
      if (waits_for_reboot(stage)) {
        EXPECT_FALSE(next_stage(stage, Step::kStart));
      }
    }
    // No dead end: from wherever a walk stops, some step leads on.
    EXPECT_TRUE(std::any_of(kSteps.begin(), kSteps.end(), [&](Step s) { return next_stage(stage, s).has_value(); }))
        << stage_name(stage);
  }
}

}  // namespace
}  // namespace flotilla::client
