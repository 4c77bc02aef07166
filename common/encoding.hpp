// Hex and base64, strict on input: a decoder that guesses hides tampering.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace flotilla::common {

using Bytes = std::vector<std::uint8_t>;

std::span<const std::uint8_t> as_bytes(std::string_view text);
std::string_view as_text(std::span<const std::uint8_t> bytes);

// Lowercase hex.
std::string to_hex(std::span<const std::uint8_t> bytes);
// Accepts lowercase hex of even length only.
Result<Bytes> from_hex(std::string_view hex);
// True for exactly 64 lowercase hex digits (a SHA-256 digest).
bool is_sha256_hex(std::string_view text);
// True for well-formed UTF-8 (RFC 3629): no overlong forms, surrogates,
// code points past U+10FFFF or cut sequences. NUL counts as valid here;
// callers that forbid control characters check those themselves.
bool is_valid_utf8(std::string_view text);

// Standard alphabet with padding (RFC 4648 §4).
std::string to_base64(std::span<const std::uint8_t> bytes);
// Accepts the standard or the URL-safe alphabet (DSSE allows either), with
// or without padding. Rejects anything else: whitespace, mixed alphabets,
// characters after padding, impossible lengths.
Result<Bytes> from_base64(std::string_view text);

}  // namespace flotilla::common
