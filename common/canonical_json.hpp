// RFC 8785 JSON Canonicalization Scheme for the JSON Flotilla hashes
// (audit entries): objects with members sorted by UTF-16 code units, no
// whitespace, strings escaped as ECMAScript's JSON.stringify does.
// Integers only: a float is refused rather than risk a representation that
// differs between implementations.
#pragma once

#include <string>

#include "common/json.hpp"

namespace flotilla::common {

Result<std::string> canonical_json(const Json& value);

}  // namespace flotilla::common
