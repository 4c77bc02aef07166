// JSON from outside: strict parsing and typed field access with errors that
// name the field by its JSON Pointer.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace flotilla::common {

using Json = nlohmann::json;

struct JsonLimits {
  std::size_t max_bytes = 1 << 20;
  int max_depth = 32;
};

// Parses text as one JSON document. Rejects, with the offending pointer:
// duplicate keys in any object (a lax parser would read another value than
// the signer saw), nesting deeper than the limit, text over the size limit,
// invalid UTF-8 and trailing garbage.
Result<Json> parse_json_strict(std::string_view text, const JsonLimits& limits = {});

// Appends a reference token to a JSON Pointer, escaping '~' and '/'.
std::string pointer_join(std::string_view pointer, std::string_view token);
std::string pointer_join(std::string_view pointer, std::size_t index);

// Typed access to one object, for validators. Each getter fails with
// Errc::kBadField and a message "POINTER: what is wrong".
class JsonObject {
 public:
  // Fails when `value` is not an object.
  static Result<JsonObject> of(const Json& value, std::string pointer);

  const Json& json() const { return *object_; }
  const std::string& pointer() const { return pointer_; }
  bool has(std::string_view key) const { return object_->contains(key); }
  std::string pointer_to(std::string_view key) const { return pointer_join(pointer_, key); }

  // Fails if the object has a key outside `allowed` (typos must not be ignored).
  Status only_keys(std::initializer_list<std::string_view> allowed) const;

  Result<std::string> string(std::string_view key, std::size_t max_length = 4096) const;
  Result<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) const;
  Result<bool> boolean(std::string_view key) const;
  Result<const Json*> array(std::string_view key, std::size_t max_items) const;
  Result<JsonObject> object(std::string_view key) const;

 private:
  JsonObject(const Json& object, std::string pointer) : object_(&object), pointer_(std::move(pointer)) {}
  Result<const Json*> member(std::string_view key) const;

  const Json* object_;
  std::string pointer_;
};

// Fails with Errc::kBadField naming `pointer`.
std::unexpected<Error> field_error(std::string_view pointer, std::string_view message);

}  // namespace flotilla::common
