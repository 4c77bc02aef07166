// Fuzz target: what a child adapter prints (docs/gateway.md), as the
// gateway's agent reads it. Adapters are the device maker's code, often a
// shell script: their output is checked like any outside input. The first
// byte picks list or versions.
#include <cstdint>

#include "client/child_adapter.hpp"
#include "common/encoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto text = flotilla::common::as_text({data + 1, size - 1});
  if (data[0] % 2 == 0) {
    (void)flotilla::client::parse_children(text, "fuzz");
  } else {
    (void)flotilla::client::parse_versions(text);
  }
  return 0;
}
