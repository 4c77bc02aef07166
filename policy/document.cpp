#include "policy/document.hpp"

#include <algorithm>

namespace flotilla::policy {

using common::Json;
using common::pointer_join;

bool is_plain_name(std::string_view text, std::size_t max_length) {
  if (text.empty() || text.size() > max_length || text == "." || text == "..") return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

bool Validator::object(const Json& value, const std::string& pointer, std::initializer_list<std::string_view> allowed) {
  if (!value.is_object()) {
    fail(Errc::kNotObject, pointer, "must be an object");
    return false;
  }
  for (const auto& [key, member] : value.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      fail(Errc::kUnknownKey, pointer_join(pointer, key), "unknown key (a typo?)");
    }
  }
  return true;
}

std::optional<std::string> Validator::string(const Json& object, const std::string& pointer, std::string_view key,
                                             bool required, std::size_t max_length) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) fail(Errc::kMissing, pointer_join(pointer, key), "is required");
    return std::nullopt;
  }
  if (!it->is_string()) {
    fail(Errc::kWrongType, pointer_join(pointer, key), "must be a string");
    return std::nullopt;
  }
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() > max_length) {
    fail(Errc::kTooLong, pointer_join(pointer, key), "is longer than " + std::to_string(max_length) + " characters");
    return std::nullopt;
  }
  return text;
}

std::optional<std::int64_t> Validator::integer(const Json& object, const std::string& pointer, std::string_view key,
                                               bool required, std::int64_t min, std::int64_t max) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) fail(Errc::kMissing, pointer_join(pointer, key), "is required");
    return std::nullopt;
  }
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) ||
      it->get<std::int64_t>() < min || it->get<std::int64_t>() > max) {
    fail(Errc::kOutOfRange, pointer_join(pointer, key), "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  }
  return it->get<std::int64_t>();
}

std::optional<bool> Validator::boolean(const Json& object, const std::string& pointer, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_boolean()) {
    fail(Errc::kWrongType, pointer_join(pointer, key), "must be true or false");
    return std::nullopt;
  }
  return it->get<bool>();
}

const Json* Validator::array(const Json& object, const std::string& pointer, std::string_view key, bool required,
                             std::size_t max_items) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (required) fail(Errc::kMissing, pointer_join(pointer, key), "is required");
    return nullptr;
  }
  if (!it->is_array() || it->empty() || it->size() > max_items) {
    fail(Errc::kOutOfRange, pointer_join(pointer, key), "must be an array of 1 to " + std::to_string(max_items) + " items");
    return nullptr;
  }
  return &*it;
}

}  // namespace flotilla::policy
