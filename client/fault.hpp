// Power-cut testing: with FLOTILLA_AGENT_FAULT=crash-after:<point> the
// agent kills itself with SIGKILL when it reaches <point> (a persisted
// state, or a step such as module_installed), so tests can cut the power
// at every instant that matters (tests/client/agent_test.cpp).
#pragma once

#include <string>
#include <string_view>

namespace flotilla::client {

void fault_point(const std::string& point);
// FLOTILLA_AGENT_FAULT=<name>: a fault that is not a crash (e.g.
// "lose-slot-write": the slot loses a byte after its fsync, as failing
// flash does).
bool fault_requested(std::string_view name);

}  // namespace flotilla::client
