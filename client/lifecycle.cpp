#include "client/lifecycle.hpp"

#include <algorithm>

#include "client/errors.hpp"

namespace flotilla::client {

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::kIdle: return "idle";
    case Stage::kDownloadingInstalling: return "downloading_installing";
    case Stage::kInterrupted: return "interrupted";
    case Stage::kInstalled: return "installed";
    case Stage::kRebooting: return "rebooting";
    case Stage::kVerifying: return "verifying";
    case Stage::kCommitted: return "committed";
    case Stage::kFailed: return "failed";
    case Stage::kRolledBack: return "rolled_back";
  }
  return "?";
}

std::optional<Stage> parse_stage(std::string_view name) {
  auto found = std::find_if(kStages.begin(), kStages.end(), [&](Stage s) { return stage_name(s) == name; });
  if (found == kStages.end()) return std::nullopt;
  return *found;
}

std::string_view step_name(Step step) {
  switch (step) {
    case Step::kStart: return "start";
    case Step::kCut: return "cut";
    case Step::kRefuse: return "refuse";
    case Step::kWrite: return "write";
    case Step::kFilesInPlace: return "files-in-place";
    case Step::kArm: return "arm";
    case Step::kModuleDone: return "module-done";
    case Step::kBoot: return "boot";
    case Step::kRetryTrial: return "retry-trial";
    case Step::kPass: return "pass";
    case Step::kRollBack: return "roll-back";
  }
  return "?";
}

common::Result<Stage> next_stage(Stage from, Step step) {
  auto row = std::find_if(kLifecycle.begin(), kLifecycle.end(),
                          [&](const Transition& t) { return t.from == from && t.step == step; });
  if (row == kLifecycle.end()) {
    return common::fail(Errc::kBadTransition, "an update in stage " + std::string(stage_name(from)) + " cannot take the step " +
                                                     std::string(step_name(step)));
  }
  return row->to;
}

bool waits_for_reboot(Stage stage) {
  return stage == Stage::kInstalled || stage == Stage::kRebooting || stage == Stage::kVerifying;
}

std::string_view event_state(Stage stage) {
  switch (stage) {
    case Stage::kDownloadingInstalling: return "downloading";
    case Stage::kInstalled: return "installing";
    // interrupted (the server counts it and expects the download again),
    // rebooting, verifying, committed, failed, rolled_back
    default: return stage_name(stage);
  }
}

std::string lifecycle_markdown() {
  std::string out = "| stage | step | next stage |\n|---|---|---|\n";
  for (const auto& t : kLifecycle) {
    out += "| `" + std::string(stage_name(t.from)) + "` | " + std::string(step_name(t.step)) + " | `" +
           std::string(stage_name(t.to)) + "` |\n";
  }
  return out;
}

}  // namespace flotilla::client
