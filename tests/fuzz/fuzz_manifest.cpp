// Fuzz target: the manifest parser on its own (in the reader it is behind a
// signature check the fuzzer cannot pass with new manifests).
#include <cstdint>

#include "artifacts/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto manifest = flotilla::artifacts::parse_manifest({data, size});
  if (manifest) (void)flotilla::artifacts::serialize_manifest(*manifest);
  return 0;
}
