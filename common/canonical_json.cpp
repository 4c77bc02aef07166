#include "common/canonical_json.hpp"

#include <algorithm>
#include <vector>

namespace flotilla::common {
namespace {

// UTF-8 to UTF-16 code units, for ordering keys as RFC 8785 §3.2.3 says.
std::u16string utf16(const std::string& text) {
  std::u16string out;
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    char32_t cp;
    std::size_t n;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if ((c >> 5) == 6) {
      cp = c & 0x1f, n = 2;
    } else if ((c >> 4) == 14) {
      cp = c & 0x0f, n = 3;
    } else {
      cp = c & 0x07, n = 4;
    }
    for (std::size_t k = 1; k < n && i + k < text.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
    }
    i += n;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void write_string(const std::string& text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

Status write_value(const Json& value, std::string& out) {
  switch (value.type()) {
    case Json::value_t::null: out += "null"; return {};
    case Json::value_t::boolean: out += value.get<bool>() ? "true" : "false"; return {};
    case Json::value_t::number_integer: out += std::to_string(value.get<std::int64_t>()); return {};
    case Json::value_t::number_unsigned: out += std::to_string(value.get<std::uint64_t>()); return {};
    case Json::value_t::string: write_string(value.get_ref<const std::string&>(), out); return {};
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.push_back(',');
        first = false;
        if (auto ok = write_value(item, out); !ok) return ok;
      }
      out.push_back(']');
      return {};
    }
    case Json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::string*>> keys;
      for (const auto& [key, member] : value.items()) keys.emplace_back(utf16(key), &key);
      std::sort(keys.begin(), keys.end());
      out.push_back('{');
      bool first = true;
      for (const auto& [sort_key, key] : keys) {
        if (!first) out.push_back(',');
        first = false;
        write_string(*key, out);
        out.push_back(':');
        if (auto ok = write_value(value.at(*key), out); !ok) return ok;
      }
      out.push_back('}');
      return {};
    }
    default:
      return fail(Errc::kBadField, "canonical JSON holds no floats or binary values");
  }
}

}  // namespace

Result<std::string> canonical_json(const Json& value) {
  std::string out;
  if (auto ok = write_value(value, out); !ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace flotilla::common
