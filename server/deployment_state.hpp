// The per-device deployment state machine (DESIGN.md §7), as a table:
//
//   pending → offered → downloading → installing → rebooting → verifying → succeeded
//                  any active state ──────────────────────────────────────→ failed | rolled_back
//                  any active state (server: device_timeout) ─────────────→ timed_out
//
// Devices report: downloading, installing, rebooting, verifying,
// committed (→ succeeded), failed, rolled_back, and interrupted: an attempt
// cut short (power, network) while offered, downloading or installing,
// which sends the deployment back to downloading and is counted apart
// (never a failure). Otherwise states only move forward; succeeded,
// failed, rolled_back and timed_out are final.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flotilla::server {

bool is_final_state(std::string_view state);
// The stored state a device-reported state means, or nullopt if devices
// may not report it.
std::optional<std::string> state_from_device_report(std::string_view reported);
bool can_transition(std::string_view from, std::string_view to);
// The reported state of an interruption, and where it leaves a deployment.
inline constexpr std::string_view kInterrupted = "interrupted";
inline constexpr std::string_view kStateAfterInterruption = "downloading";
inline bool is_interruption(std::string_view state) { return state == kInterrupted; }

}  // namespace flotilla::server
