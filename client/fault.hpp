// Power-cut testing: with FLOTILLA_AGENT_FAULT=crash-after:<point> the
// agent kills itself with SIGKILL when it reaches <point> (a persisted
// state, or a step such as module_installed), so tests can cut the power
// at every instant that matters (tests/client/agent_test.cpp).
#pragma once

#include <string>

namespace flotilla::client {

void fault_point(const std::string& point);

}  // namespace flotilla::client
