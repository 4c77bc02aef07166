// Fuzz target: the rollout policy and baseline parsers, behind the strict
// JSON reader the server and CLI use.
#include <cstdint>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "policy/baseline.hpp"
#include "policy/rollout_policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = flotilla::common::parse_json_strict(flotilla::common::as_text({data, size}));
  if (!doc) return 0;
  (void)flotilla::policy::parse_rollout_policy(*doc);
  (void)flotilla::policy::parse_baseline(*doc);
  return 0;
}
