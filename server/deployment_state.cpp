#include "server/deployment_state.hpp"

#include <algorithm>

namespace flotilla::server {

std::string_view state_name(DeploymentState state) {
  switch (state) {
    case DeploymentState::kPending: return "pending";
    case DeploymentState::kOffered: return "offered";
    case DeploymentState::kDownloading: return "downloading";
    case DeploymentState::kInstalling: return "installing";
    case DeploymentState::kRebooting: return "rebooting";
    case DeploymentState::kVerifying: return "verifying";
    case DeploymentState::kSucceeded: return "succeeded";
    case DeploymentState::kFailed: return "failed";
    case DeploymentState::kRolledBack: return "rolled_back";
    case DeploymentState::kTimedOut: return "timed_out";
  }
  return "?";
}

std::optional<DeploymentState> parse_deployment_state(std::string_view name) {
  for (auto s : kDeploymentStates) {
    if (state_name(s) == name) return s;
  }
  return std::nullopt;
}

bool is_final(DeploymentState state) {
  return state == DeploymentState::kSucceeded || state == DeploymentState::kFailed || state == DeploymentState::kRolledBack ||
         state == DeploymentState::kTimedOut;
}

std::string_view report_word(DeviceReport report) {
  switch (report) {
    case DeviceReport::kDownloading: return "downloading";
    case DeviceReport::kInstalling: return "installing";
    case DeviceReport::kRebooting: return "rebooting";
    case DeviceReport::kVerifying: return "verifying";
    case DeviceReport::kCommitted: return "committed";
    case DeviceReport::kFailed: return "failed";
    case DeviceReport::kRolledBack: return "rolled_back";
    case DeviceReport::kInterrupted: return "interrupted";
  }
  return "?";
}

std::string_view recorded_name(DeviceReport report) {
  return report == DeviceReport::kCommitted ? state_name(DeploymentState::kSucceeded) : report_word(report);
}

std::optional<DeviceReport> parse_device_report(std::string_view word) {
  for (auto r : kDeviceReports) {
    if (report_word(r) == word) return r;
  }
  return std::nullopt;
}

std::optional<DeviceReport> parse_recorded_report(std::string_view name) {
  for (auto r : kDeviceReports) {
    if (recorded_name(r) == name) return r;
  }
  return std::nullopt;
}

std::optional<DeploymentState> apply_report(DeploymentState from, DeviceReport report) {
  auto row = std::find_if(kReportRules.begin(), kReportRules.end(),
                          [&](const ReportRule& r) { return r.report == report && r.from.contains(from); });
  if (row == kReportRules.end()) return std::nullopt;
  return row->to;
}

std::optional<std::string> state_from_device_report(std::string_view reported) {
  auto report = parse_device_report(reported);
  if (!report) return std::nullopt;
  return std::string(recorded_name(*report));
}

}  // namespace flotilla::server
