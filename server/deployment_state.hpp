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

// A set of states, for the table's rows.
class StateSet {
 public:
  constexpr StateSet(std::initializer_list<DeploymentState> states) {
    for (auto s : states) bits_ |= static_cast<std::uint16_t>(1u << static_cast<unsigned>(s));
  }
  constexpr bool contains(DeploymentState s) const { return (bits_ >> static_cast<unsigned>(s)) & 1u; }

 private:
  std::uint16_t bits_ = 0;
};

struct ReportRule {
  DeviceReport report;
  StateSet from;
  DeploymentState to;
};

namespace detail {
using S = DeploymentState;
inline constexpr StateSet kActive = {S::kPending, S::kOffered, S::kDownloading, S::kInstalling, S::kRebooting, S::kVerifying};
}  // namespace detail

// Each report moves a deployment in a `from` state to `to`; any other
// (state, report) pair is refused. A report of the state it is in is a
// progress event.
inline constexpr std::array<ReportRule, 9> kReportRules = {{
    {DeviceReport::kDownloading, {detail::S::kPending, detail::S::kOffered, detail::S::kDownloading}, DeploymentState::kDownloading},
    {DeviceReport::kInstalling, {detail::S::kPending, detail::S::kOffered, detail::S::kDownloading, detail::S::kInstalling},
     DeploymentState::kInstalling},
    {DeviceReport::kRebooting,
     {detail::S::kPending, detail::S::kOffered, detail::S::kDownloading, detail::S::kInstalling, detail::S::kRebooting},
     DeploymentState::kRebooting},
    {DeviceReport::kRebooting, {detail::S::kVerifying}, DeploymentState::kRebooting},  // the trial is tried once more
    {DeviceReport::kVerifying, detail::kActive, DeploymentState::kVerifying},
    {DeviceReport::kCommitted,
     {detail::S::kOffered, detail::S::kDownloading, detail::S::kInstalling, detail::S::kRebooting, detail::S::kVerifying},
     DeploymentState::kSucceeded},
    {DeviceReport::kFailed, detail::kActive, DeploymentState::kFailed},
    {DeviceReport::kRolledBack, detail::kActive, DeploymentState::kRolledBack},
    {DeviceReport::kInterrupted, {detail::S::kOffered, detail::S::kDownloading, detail::S::kInstalling},
     DeploymentState::kDownloading},
}};

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

// Names at the store's boundary.
bool is_final_state(std::string_view state);
// The name an event a device reports is recorded under, or nullopt if
// devices may not report it.
std::optional<std::string> state_from_device_report(std::string_view reported);

}  // namespace flotilla::server
