// HTTP Range requests for bundle downloads (RFC 9110 §14): one byte range
// per request; several ranges are answered with the whole file, as the
// RFC allows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace flotilla::server::api {

struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

enum class RangeOutcome { kWhole, kPartial, kUnsatisfiable };

struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::kWhole;
  ByteRange range;  // for kPartial
};

// `range_header` and `if_range_header` as sent (absent: nullopt); `etag`
// the representation's strong ETag (quoted). If-Range that does not match
// the ETag means "send the whole file".
RangeDecision decide_range(const std::optional<std::string>& range_header,
                           const std::optional<std::string>& if_range_header, const std::string& etag,
                           std::uint64_t size);

}  // namespace flotilla::server::api
