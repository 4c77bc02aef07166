// A described fleet, for rehearsals (`flotilla policy simulate --fleet`):
// a JSON array of {"id", "type", "labels": {}, "versions": {component:
// version}, "tampered"?}. Every entry is checked; the first problem is
// reported with its JSON Pointer.
#pragma once

#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "policy/waves.hpp"

namespace flotilla::policy {

inline constexpr std::size_t kMaxFleetDevices = 1000000;

common::Result<std::vector<FleetDevice>> parse_fleet(const common::Json& doc);

}  // namespace flotilla::policy
