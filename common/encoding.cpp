#include "common/encoding.hpp"


namespace flotilla::common {
namespace {

constexpr std::string_view kStandardDigits =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum class Alphabet { kUnknown, kStandard, kUrlSafe };

// Value of a base64 digit, or -1. Records which alphabet the '+/' or '-_'
// digits belong to, so that mixing them is caught.
int base64_value(char c, Alphabet& alphabet) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  Alphabet needed = Alphabet::kUnknown;
  int value = -1;
  if (c == '+' || c == '/') {
    needed = Alphabet::kStandard;
    value = c == '+' ? 62 : 63;
  } else if (c == '-' || c == '_') {
    needed = Alphabet::kUrlSafe;
    value = c == '-' ? 62 : 63;
  } else {
    return -1;
  }
  if (alphabet != Alphabet::kUnknown && alphabet != needed) return -1;
  alphabet = needed;
  return value;
}

}  // namespace

std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

Result<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(Errc::kBadEncoding, "hex string has odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return fail(Errc::kBadEncoding, "not lowercase hex");
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The length of the sequence and the range its second byte must be
    // in (narrower after E0, ED, F0 and F4: overlongs, surrogates, > U+10FFFF).
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return false;
    for (std::size_t k = 2; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
  // Written through a pointer into a string sized once: a push_back per
  // digit (not inlined) was a fifth of a signed compliance export's time.
  std::string out((bytes.size() + 2) / 3 * 4, '\0');
  char* at = out.data();
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16 | std::uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    at[0] = kStandardDigits[v >> 18 & 63];
    at[1] = kStandardDigits[v >> 12 & 63];
    at[2] = kStandardDigits[v >> 6 & 63];
    at[3] = kStandardDigits[v & 63];
    at += 4;
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= std::uint32_t{bytes[i + 1]} << 8;
    at[0] = kStandardDigits[v >> 18 & 63];
    at[1] = kStandardDigits[v >> 12 & 63];
    at[2] = rest == 2 ? kStandardDigits[v >> 6 & 63] : '=';
    at[3] = '=';
  }
  return out;
}

Result<Bytes> from_base64(std::string_view text) {
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  std::string_view digits = text.substr(0, text.size() - padding);
  if (padding > 0 && text.size() % 4 != 0) {
    return fail(Errc::kBadEncoding, "base64 padding does not complete a group of four");
  }
  if (digits.size() % 4 == 1) return fail(Errc::kBadEncoding, "base64 has an impossible length");

  Alphabet alphabet = Alphabet::kUnknown;
  Bytes out;
  out.reserve(digits.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : digits) {
    int v = base64_value(c, alphabet);
    if (v < 0) return fail(Errc::kBadEncoding, "base64 contains a character outside its alphabet");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

}  // namespace flotilla::common
