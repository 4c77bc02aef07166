// Fuzz target: root.json loading, and rotation from a trusted root to it.
#include <cstdint>

#include "signing/root.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla;
  std::string_view text = common::as_text({data, size});
  auto root = signing::TrustRoot::from_json(text);
  if (root) (void)root->check_current(common::now_utc());
  (void)fuzz::fuzz_root().rotate_to(text);
  return 0;
}
