// Fuzz target: what DDI clients send (docs/ddi.md): feedback bodies and
// configData, the first byte choosing which, with the attributes kept so
// far from an earlier input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/ddi/ddi.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla::server;
  static flotilla::common::Json attributes = flotilla::common::Json::object();
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    auto feedback = ddi::parse_feedback(body);
    if (feedback && (feedback->details.size() > ddi::kMaxDetailBytes || feedback->percent() < 0 || feedback->percent() > 100)) {
      std::abort();
    }
  } else {
    auto applied = ddi::apply_config_data(body, attributes);
    if (applied) {
      if (!applied->is_object() || applied->size() > 64) std::abort();
      attributes = *applied;
    }
  }
  return 0;
}
