// The rollout's activation window as a poll answer carries it beside an
// offer (docs/device-protocol.md §2, windows_apply_to "activate"): the
// update may be downloaded and written at any time, but the device
// switches to it (reboots into the new slot, or activates a child) only
// inside the window. One reading for the agent and the gateway.
#pragma once

#include <optional>
#include <string>

#include "common/json.hpp"
#include "common/time.hpp"

namespace flotilla::client {

// null (or anything that is not an object): no window, any time is right.
// {"start", "end"}: the current or next window; both null when none comes
// within the server's horizon (then wait, and read the next poll's).
// "until": the deadline after which windows no longer apply.
bool activation_window_open(const common::Json& window, common::TimePoint now);

// When a window that is closed now opens: its start or its `until`,
// whichever is first; nullopt when neither is known.
std::optional<common::TimePoint> activation_window_opens(const common::Json& window);

// For logs and `status`: "from START to END", "none within the server's
// horizon", each followed by ", or at UNTIL" when a deadline lifts it.
std::string describe_activation_window(const common::Json& window);

}  // namespace flotilla::client
