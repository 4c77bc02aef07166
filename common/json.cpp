#include "common/json.hpp"

#include <algorithm>
#include <set>
#include <vector>

namespace flotilla::common {
namespace {

// Thrown from the parser callback to stop parsing at the first violation;
// caught in parse_json_strict and never leaves this file.
struct StrictViolation {
  Errc code;
  std::string message;
};

std::string escape_token(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<Json> parse_json_strict(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return fail(Errc::kTooLarge, "JSON document of " + std::to_string(text.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(limits.max_bytes));
  }
  // One set of seen keys per open object; arrays push an empty marker so
  // the stack stays aligned with the nesting.
  std::vector<std::set<std::string>> seen;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= limits.max_depth) {
          throw StrictViolation{Errc::kBadJson, "JSON nests deeper than " +
                                                    std::to_string(limits.max_depth) + " levels"};
        }
        seen.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case Json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!seen.empty() && !seen.back().insert(key).second) {
          throw StrictViolation{Errc::kDuplicateKey,
                                "JSON object names the key \"" + escape_token(key) + "\" twice"};
        }
        break;
      }
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const StrictViolation& violation) {
    return fail(violation.code, violation.message);
  } catch (const Json::parse_error& e) {
    // Only the position: nlohmann's own message quotes the input it read,
    // which may be anything (even invalid UTF-8) and must not be echoed.
    return fail(Errc::kBadJson, "not valid JSON (stopped at byte " + std::to_string(e.byte) + ")");
  } catch (const Json::exception&) {
    return fail(Errc::kBadJson, "not valid JSON");
  }
}

std::string pointer_join(std::string_view pointer, std::string_view token) {
  return std::string(pointer) + "/" + escape_token(token);
}

std::string pointer_join(std::string_view pointer, std::size_t index) {
  return std::string(pointer) + "/" + std::to_string(index);
}

std::unexpected<Error> field_error(std::string_view pointer, std::string_view message) {
  // Pointers are made of the input's own keys: bounded, so an error never
  // carries a large piece of what was sent.
  constexpr std::size_t kMaxPointer = 200;
  std::string where = pointer.empty() ? std::string("(document)") : std::string(pointer.substr(0, kMaxPointer));
  if (pointer.size() > kMaxPointer) where += "...";
  return fail(Errc::kBadField, where + ": " + std::string(message));
}

Result<JsonObject> JsonObject::of(const Json& value, std::string pointer) {
  if (!value.is_object()) return field_error(pointer, "must be an object");
  return JsonObject(value, std::move(pointer));
}

Status JsonObject::only_keys(std::initializer_list<std::string_view> allowed) const {
  for (const auto& [key, value] : object_->items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return field_error(pointer_to(key), "unknown key");
    }
  }
  return {};
}

Result<const Json*> JsonObject::member(std::string_view key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return field_error(pointer_to(key), "is required");
  return &*it;
}

Result<std::string> JsonObject::string(std::string_view key, std::size_t max_length) const {
  auto value = member(key);
  if (!value) return std::unexpected(value.error());
  if (!(*value)->is_string()) return field_error(pointer_to(key), "must be a string");
  const auto& text = (*value)->get_ref<const std::string&>();
  if (text.size() > max_length) {
    return field_error(pointer_to(key), "is longer than " + std::to_string(max_length) + " bytes");
  }
  return text;
}

Result<bool> JsonObject::boolean(std::string_view key) const {
  auto value = member(key);
  if (!value) return std::unexpected(value.error());
  if (!(*value)->is_boolean()) return field_error(pointer_to(key), "must be true or false");
  return (*value)->get<bool>();
}

Result<std::int64_t> JsonObject::integer(std::string_view key, std::int64_t min,
                                         std::int64_t max) const {
  auto value = member(key);
  if (!value) return std::unexpected(value.error());
  const Json& v = **value;
  // A float such as 7.0 is refused: the signer's number must be read exactly.
  if (!v.is_number_integer()) return field_error(pointer_to(key), "must be an integer");
  bool too_big = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max);
  auto n = too_big ? max : v.get<std::int64_t>();
  if (too_big || n < min || n > max) {
    return field_error(pointer_to(key), "must be between " + std::to_string(min) + " and " +
                                            std::to_string(max));
  }
  return n;
}

Result<const Json*> JsonObject::array(std::string_view key, std::size_t max_items) const {
  auto value = member(key);
  if (!value) return std::unexpected(value.error());
  if (!(*value)->is_array()) return field_error(pointer_to(key), "must be an array");
  if ((*value)->size() > max_items) {
    return field_error(pointer_to(key), "has more than " + std::to_string(max_items) + " items");
  }
  return *value;
}

Result<JsonObject> JsonObject::object(std::string_view key) const {
  auto value = member(key);
  if (!value) return std::unexpected(value.error());
  return of(**value, pointer_to(key));
}

}  // namespace flotilla::common
