// Fuzz target: the fleet description `policy simulate --fleet` reads,
// behind the strict JSON reader.
#include <cstdint>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "policy/fleet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = flotilla::common::parse_json_strict(flotilla::common::as_text({data, size}));
  if (!doc) return 0;
  (void)flotilla::policy::parse_fleet(*doc);
  return 0;
}
