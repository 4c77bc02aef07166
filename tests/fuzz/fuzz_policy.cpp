// Fuzz target: the rollout policy and baseline parsers, behind the strict
// JSON reader the server and CLI use; a policy that parses is then run by
// the engine over a small fleet for a simulated day (windows, pace, gates
// and the guard on whatever values the fuzzer found).
#include <cstdint>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "policy/baseline.hpp"
#include "policy/rollout_policy.hpp"
#include "policy/simulation.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla;
  auto doc = common::parse_json_strict(common::as_text({data, size}));
  if (!doc) return 0;
  (void)policy::parse_baseline(*doc);
  auto parsed = policy::parse_rollout_policy(*doc);
  if (!parsed) return 0;
  std::vector<policy::FleetDevice> fleet;
  for (int i = 0; i < 8; ++i) {
    policy::FleetDevice d{.id = "d" + std::to_string(i), .type = parsed->target.device_types.front()};
    d.versions.emplace("c", *common::Version::parse(i % 2 ? "1.0.0" : "9.0.0"));
    if (i % 3 == 0) d.utc_offset = std::chrono::minutes(i * 60 - 300);
    fleet.push_back(std::move(d));
  }
  policy::SimulationOptions options{.failure_rate = 0.3, .seed = size, .start = *common::parse_rfc3339("2026-12-01T00:00:00Z"),
                                    .step = std::chrono::hours(1), .horizon = std::chrono::hours(24)};
  (void)policy::simulate(*parsed, {"c", parsed->bundle.version, {}}, std::move(fleet), options);
  return 0;
}
