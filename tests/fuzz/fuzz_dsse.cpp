// Fuzz target: DSSE envelope parsing and verification.
#include <cstdint>

#include "signing/dsse.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla;
  auto envelope = signing::parse_envelope(common::as_text({data, size}));
  if (!envelope) return 0;
  (void)signing::serialize_envelope(*envelope);
  signing::KeyRing ring{{fuzz::fuzz_key().key_id(), fuzz::fuzz_key().public_key()}};
  (void)signing::verify_envelope(*envelope, signing::kManifestType, ring, {fuzz::fuzz_key().key_id()}, 1);
  return 0;
}
