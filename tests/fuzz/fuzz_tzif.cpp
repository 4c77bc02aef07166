// Fuzz target: the TZif reader behind maintenance windows in IANA zones
// (tzdata is a system file, but a damaged one must not crash the server).
#include <cstdint>

#include "common/time_zone.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla::common;
  auto zone = Zone::parse({data, size});
  if (!zone) return 0;
  for (std::int64_t t : {-4000000000LL, 0LL, 1800000000LL, 2200000000LL, 4000000000LL}) {
    (void)zone->offset_at(TimePoint(std::chrono::seconds(t)));
  }
  return 0;
}
