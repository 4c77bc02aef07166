// Errors as values: every fallible function returns Result<T>.
//
// An Error carries the library it came from (its domain), a code from that
// library's own enum (so tests can assert exactly which rule fired), a
// message for people, and a context chain that grows as the error rises:
// "verifying bundle: reading manifest: signature 0: bad base64".
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace flotilla::common {

// Each library specialises this for its code enum, naming its domain.
template <class Code>
struct ErrorDomain;

class Error {
 public:
  Error(std::string_view domain, int code, std::string message)
      : domain_(domain), code_(code), message_(std::move(message)) {}

  template <class Code>
  Error(Code code, std::string message)
      : Error(ErrorDomain<Code>::kName, static_cast<int>(code), std::move(message)) {}

  const std::string& domain() const { return domain_; }
  int code() const { return code_; }
  // The innermost message, without context.
  const std::string& message() const { return message_; }
  // The whole chain, outermost context first.
  std::string describe() const;

  template <class Code>
  bool is(Code code) const {
    return domain_ == ErrorDomain<Code>::kName && code_ == static_cast<int>(code);
  }

  Error with_context(std::string_view context) const&;
  Error with_context(std::string_view context) &&;

 private:
  std::string domain_;
  int code_;
  std::string message_;
  std::string context_;  // "outer: inner: " prefix, empty when none
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

template <class Code>
[[nodiscard]] std::unexpected<Error> fail(Code code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

// Passes an error up with one more layer of context:
//   if (!root) return propagate(root, "loading trust root");
template <class T>
[[nodiscard]] std::unexpected<Error> propagate(const Result<T>& failed, std::string_view context) {
  return std::unexpected<Error>(failed.error().with_context(context));
}

enum class Errc {
  kIo = 1,          // a file could not be opened, read or written
  kTooLarge,        // an input exceeds its size limit
  kBadJson,         // not JSON, or JSON over the depth limit
  kDuplicateKey,    // an object names a key twice
  kBadEncoding,     // hex or base64 that is not well formed
  kBadTime,         // not an RFC 3339 time
  kBadVersion,      // not a SemVer 2.0 version or range
  kBadField,        // a field is missing, of the wrong type, or out of range
  kDatabase,        // the database failed (I/O, corruption, a statement refused)
  kConflict,        // a write broke a uniqueness constraint
  kNotFound,        // no row where one was expected
  kUnavailable,     // the database is unreachable or busy past its timeout: try again later
};

template <>
struct ErrorDomain<Errc> {
  static constexpr std::string_view kName = "common";
};

}  // namespace flotilla::common
