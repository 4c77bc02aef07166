// The per-device deployment state machine (DESIGN.md §7), as one table.
//
//   pending → offered → downloading → installing → rebooting → verifying → succeeded
//                  any active state ──────────────────────────────────────→ failed | rolled_back
//                  any active state (server: device_timeout) ─────────────→ timed_out
//
// The server moves a deployment to offered (a poll) and timed_out; every
// other move is a device's report (docs/device-protocol.md) applied by
// kReportRules: forward only, plus two ways back that are not failures —
// `interrupted` (an attempt cut short while offered, downloading or
// installing: downloading again, counted apart) and `rebooting` after
// `verifying` (the trial boot ended before its verdict, a power cut: the
// device tries it once more). succeeded, failed, rolled_back and
// timed_out are final. The store keeps the names; code uses the enums.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/enum_set.hpp"

namespace flotilla::server {

enum class DeploymentState : std::uint8_t {
  kPending,
  kOffered,
  kDownloading,
  kInstalling,
  kRebooting,
  kVerifying,
  kSucceeded,
  kFailed,
  kRolledBack,
  kTimedOut,
};

enum class DeviceReport : std::uint8_t {
  kDownloading,
  kInstalling,
  kRebooting,
  kVerifying,
  kCommitted,  // recorded as succeeded
  kFailed,
  kRolledBack,
  kInterrupted,
};

struct ReportRule {
  DeviceReport report;
  EnumSet<DeploymentState> from;
  DeploymentState to;
};

// Each report moves a deployment in a `from` state to `to`; any other
// (state, report) pair is refused. A report of the state it is in is a
// progress event.
inline constexpr std::array<ReportRule, 9> kReportRules = [] {
  using enum DeploymentState;
  using Report = DeviceReport;
  constexpr EnumSet<DeploymentState> active = {kPending, kOffered, kDownloading, kInstalling, kRebooting, kVerifying};
  return std::array<ReportRule, 9>{{
      {Report::kDownloading, {kPending, kOffered, kDownloading}, kDownloading},
      {Report::kInstalling, {kPending, kOffered, kDownloading, kInstalling}, kInstalling},
      {Report::kRebooting, {kPending, kOffered, kDownloading, kInstalling, kRebooting}, kRebooting},
      {Report::kRebooting, {kVerifying}, kRebooting},  // the trial's boot was cut: tried once more
      {Report::kVerifying, active, kVerifying},
      {Report::kCommitted, {kOffered, kDownloading, kInstalling, kRebooting, kVerifying}, kSucceeded},
      {Report::kFailed, active, kFailed},
      {Report::kRolledBack, active, kRolledBack},
      {Report::kInterrupted, {kOffered, kDownloading, kInstalling}, kDownloading},
  }};
}();

inline constexpr std::array<DeploymentState, 10> kDeploymentStates = {
    DeploymentState::kPending,   DeploymentState::kOffered,   DeploymentState::kDownloading, DeploymentState::kInstalling,
    DeploymentState::kRebooting, DeploymentState::kVerifying, DeploymentState::kSucceeded,   DeploymentState::kFailed,
    DeploymentState::kRolledBack, DeploymentState::kTimedOut};
inline constexpr std::array<DeviceReport, 8> kDeviceReports = {
    DeviceReport::kDownloading, DeviceReport::kInstalling, DeviceReport::kRebooting,  DeviceReport::kVerifying,
    DeviceReport::kCommitted,   DeviceReport::kFailed,     DeviceReport::kRolledBack, DeviceReport::kInterrupted};

std::string_view state_name(DeploymentState state);
std::optional<DeploymentState> parse_deployment_state(std::string_view name);
bool is_final(DeploymentState state);

// The word a device sends (committed) and the name an event is recorded
// under (succeeded); the two differ for a commit only.
std::string_view report_word(DeviceReport report);
std::string_view recorded_name(DeviceReport report);
std::optional<DeviceReport> parse_device_report(std::string_view word);
std::optional<DeviceReport> parse_recorded_report(std::string_view name);

// The table's answer: where `report` moves a deployment in `from`, or
// nullopt when the table has no row for the pair (refused).
std::optional<DeploymentState> apply_report(DeploymentState from, DeviceReport report);

// The name an event a device reports is recorded under, or nullopt if
// devices may not report it.
std::optional<std::string> state_from_device_report(std::string_view reported);

}  // namespace flotilla::server
