// Fuzz target: the agent's configuration file, behind the strict JSON
// reader (a device's config may come from a provisioning system).
#include <cstdint>

#include "client/config.hpp"
#include "common/encoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = flotilla::common::parse_json_strict(flotilla::common::as_text({data, size}));
  if (!doc) return 0;
  (void)flotilla::client::parse_agent_config(*doc);
  return 0;
}
