// Reading policy documents: a validator that collects every error with its
// JSON Pointer instead of stopping at the first, so an operator fixes a
// policy in one round.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"
#include "policy/errors.hpp"

namespace flotilla::policy {

struct PolicyError {
  Errc code = Errc::kBadValue;  // which rule refused it
  std::string pointer;          // JSON Pointer of the offending value ("" = the document)
  std::string message;
  bool operator==(const PolicyError&) const = default;
};
using PolicyErrors = std::vector<PolicyError>;

class Validator {
 public:
  const PolicyErrors& errors() const { return errors_; }
  bool ok() const { return errors_.empty(); }
  void fail(Errc code, std::string pointer, std::string message) {
    errors_.push_back({code, std::move(pointer), std::move(message)});
  }

  // `value` must be an object with only `allowed` keys (each stray key is
  // an error of its own). False when it is not an object at all.
  bool object(const common::Json& value, const std::string& pointer, std::initializer_list<std::string_view> allowed);

  // Member access on an object already checked with object(). A missing
  // required member is an error; a missing optional one is nullopt.
  std::optional<std::string> string(const common::Json& object, const std::string& pointer, std::string_view key,
                                    bool required, std::size_t max_length = 256);
  std::optional<std::int64_t> integer(const common::Json& object, const std::string& pointer, std::string_view key,
                                      bool required, std::int64_t min, std::int64_t max);
  std::optional<bool> boolean(const common::Json& object, const std::string& pointer, std::string_view key);
  // A string member turned into T by `parse` (nullopt = invalid, then
  // "must be <what>").
  template <class T>
  std::optional<T> parsed(const common::Json& object, const std::string& pointer, std::string_view key, bool required,
                          const std::function<std::optional<T>(std::string_view)>& parse, std::string_view what) {
    auto text = string(object, pointer, key, required);
    if (!text) return std::nullopt;
    auto value = parse(*text);
    if (!value) fail(Errc::kBadValue, common::pointer_join(pointer, key), "\"" + text->substr(0, 64) + "\" is not " + std::string(what));
    return value;
  }
  // A JSON array member with 1..max items (or nullopt).
  const common::Json* array(const common::Json& object, const std::string& pointer, std::string_view key, bool required,
                            std::size_t max_items);

 private:
  PolicyErrors errors_;
};

// For messages: "[A-Za-z0-9._-]{1,max}" names.
bool is_plain_name(std::string_view text, std::size_t max_length = 128);

}  // namespace flotilla::policy
