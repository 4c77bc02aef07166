// The agent's update lifecycle (DESIGN.md §8, docs/agent.md "States") as
// one table: every allowed (stage, step) → stage, and nothing else. The
// agent moves an update only through advance() (client/agent.cpp), which
// looks the step up here and persists the new stage before its action; a
// step the table does not have is refused with kBadTransition, naming
// both. Stage names are the words stored in the agent's state and shown
// by `status`; they appear nowhere else.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace flotilla::client {

enum class Stage : std::uint8_t {
  kIdle,
  kDownloadingInstalling,
  kInterrupted,
  kInstalled,
  kRebooting,
  kVerifying,
  kCommitted,
  kFailed,
  kRolledBack,
};

enum class Step : std::uint8_t {
  kStart,         // an install begins: download, verify and write as the bytes stream
  kCut,           // the stream stopped (power, kill, network) or a resumed one did not verify
  kRefuse,        // the bundle does not verify, or the install or its update module failed
  kWrite,         // written and verified; the trial boot (or the module's work) comes next
  kFilesInPlace,  // file payloads only: in effect at once
  kArm,           // the one-time trial boot is armed (or the module waits for a reboot)
  kModuleDone,    // the update module finished without needing a reboot
  kBoot,          // the device came up again: check the new version
  kRetryTrial,    // the new slot came up, but that boot was cut before the verdict: one more trial
  kPass,          // the new slot runs and every health check passed
  kRollBack,      // the new version is given up: fell back, a check failed, or by hand
};

struct Transition {
  Stage from;
  Step step;
  Stage to;
};

inline constexpr std::array<Transition, 19> kLifecycle = {{
    {Stage::kIdle, Step::kStart, Stage::kDownloadingInstalling},
    {Stage::kCommitted, Step::kStart, Stage::kDownloadingInstalling},
    {Stage::kFailed, Step::kStart, Stage::kDownloadingInstalling},
    {Stage::kRolledBack, Step::kStart, Stage::kDownloadingInstalling},
    {Stage::kInterrupted, Step::kStart, Stage::kDownloadingInstalling},
    {Stage::kDownloadingInstalling, Step::kCut, Stage::kInterrupted},
    {Stage::kDownloadingInstalling, Step::kRefuse, Stage::kFailed},
    {Stage::kDownloadingInstalling, Step::kWrite, Stage::kInstalled},
    {Stage::kDownloadingInstalling, Step::kFilesInPlace, Stage::kCommitted},
    {Stage::kInstalled, Step::kArm, Stage::kRebooting},
    {Stage::kInstalled, Step::kModuleDone, Stage::kCommitted},
    {Stage::kInstalled, Step::kRefuse, Stage::kFailed},
    {Stage::kInstalled, Step::kRollBack, Stage::kRolledBack},
    {Stage::kRebooting, Step::kBoot, Stage::kVerifying},
    {Stage::kRebooting, Step::kRollBack, Stage::kRolledBack},
    {Stage::kVerifying, Step::kBoot, Stage::kVerifying},
    {Stage::kVerifying, Step::kRetryTrial, Stage::kRebooting},
    {Stage::kVerifying, Step::kPass, Stage::kCommitted},
    {Stage::kVerifying, Step::kRollBack, Stage::kRolledBack},
}};

inline constexpr std::array<Stage, 9> kStages = {Stage::kIdle,      Stage::kDownloadingInstalling, Stage::kInterrupted,
                                                 Stage::kInstalled, Stage::kRebooting,             Stage::kVerifying,
                                                 Stage::kCommitted, Stage::kFailed,                Stage::kRolledBack};
inline constexpr std::array<Step, 11> kSteps = {Step::kStart,      Step::kCut,  Step::kRefuse,     Step::kWrite,
                                                Step::kFilesInPlace, Step::kArm,  Step::kModuleDone, Step::kBoot,
                                                Step::kRetryTrial,   Step::kPass, Step::kRollBack};

std::string_view stage_name(Stage stage);
std::optional<Stage> parse_stage(std::string_view name);
std::string_view step_name(Step step);

// The table's answer, or kBadTransition naming the stage and the step.
common::Result<Stage> next_stage(Stage from, Step step);

// Written and waiting for (or in) its trial: no other install may start.
bool waits_for_reboot(Stage stage);
// How the server's deployment events name a stage (docs/device-protocol.md):
// an interruption is reported as the download it returns to.
std::string_view event_state(Stage stage);

// The table as docs/agent.md shows it (a test keeps the two equal).
std::string lifecycle_markdown();

}  // namespace flotilla::client
