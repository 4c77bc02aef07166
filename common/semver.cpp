#include "common/semver.hpp"

#include <charconv>

namespace flotilla::common {
namespace {

constexpr std::size_t kMaxVersionLength = 256;
constexpr std::size_t kMaxComparators = 64;

std::unexpected<Error> bad_version(std::string_view text, std::string_view why) {
  return fail(Errc::kBadVersion, "\"" + std::string(text.substr(0, 64)) +
                                     "\" is not a SemVer 2.0 version: " + std::string(why));
}

bool is_identifier_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

// Splits on '.', validating each identifier; numeric identifiers of the
// pre-release may not have leading zeros.
bool split_identifiers(std::string_view part, bool numeric_leading_zero_rule,
                       std::vector<std::string>& out) {
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = part.find('.', start);
    std::string_view id = part.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (id.empty()) return false;
    for (char c : id) {
      if (!is_identifier_char(c)) return false;
    }
    if (numeric_leading_zero_rule && all_digits(id) && id.size() > 1 && id[0] == '0') return false;
    out.emplace_back(id);
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool parse_number(std::string_view s, std::uint64_t& out) {
  if (!all_digits(s) || (s.size() > 1 && s[0] == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::strong_ordering compare_identifier(const std::string& a, const std::string& b) {
  bool a_num = all_digits(a), b_num = all_digits(b);
  if (a_num && b_num) {
    if (a.size() != b.size()) return a.size() <=> b.size();  // no leading zeros
    return a <=> b;
  }
  if (a_num != b_num) return a_num ? std::strong_ordering::less : std::strong_ordering::greater;
  return a <=> b;
}

}  // namespace

Result<Version> Version::parse(std::string_view text) {
  if (text.empty()) return bad_version(text, "empty");
  if (text.size() > kMaxVersionLength) return bad_version(text, "too long");
  Version v;
  v.text_ = text;
  std::string_view rest = text;
  if (auto plus = rest.find('+'); plus != std::string_view::npos) {
    std::vector<std::string> build;
    if (!split_identifiers(rest.substr(plus + 1), false, build)) {
      return bad_version(text, "bad build metadata");
    }
    rest = rest.substr(0, plus);
  }
  if (auto dash = rest.find('-'); dash != std::string_view::npos) {
    if (!split_identifiers(rest.substr(dash + 1), true, v.prerelease_)) {
      return bad_version(text, "bad pre-release");
    }
    rest = rest.substr(0, dash);
  }
  std::uint64_t* parts[] = {&v.major_, &v.minor_, &v.patch_};
  for (int i = 0; i < 3; ++i) {
    std::size_t dot = rest.find('.');
    if ((i < 2) == (dot == std::string_view::npos)) return bad_version(text, "need MAJOR.MINOR.PATCH");
    std::string_view number = rest.substr(0, dot);
    if (!parse_number(number, *parts[i])) {
      return bad_version(text, "numbers must be decimal without leading zeros");
    }
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  return v;
}

std::strong_ordering Version::operator<=>(const Version& other) const {
  if (auto c = major_ <=> other.major_; c != 0) return c;
  if (auto c = minor_ <=> other.minor_; c != 0) return c;
  if (auto c = patch_ <=> other.patch_; c != 0) return c;
  if (prerelease_.empty() || other.prerelease_.empty()) {
    return other.prerelease_.size() == 0 && prerelease_.size() == 0 ? std::strong_ordering::equal
           : prerelease_.empty()                                 ? std::strong_ordering::greater
                                                                 : std::strong_ordering::less;
  }
  std::size_t n = std::min(prerelease_.size(), other.prerelease_.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (auto c = compare_identifier(prerelease_[i], other.prerelease_[i]); c != 0) return c;
  }
  return prerelease_.size() <=> other.prerelease_.size();
}

Result<VersionRange> VersionRange::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::kBadVersion, "\"" + std::string(text.substr(0, 64)) +
                                       "\" is not a version range: " + std::string(why));
  };
  if (text.size() > 1024) return bad("too long");
  VersionRange range;
  range.text_ = text;
  std::size_t total = 0;
  std::size_t start = 0;
  for (;;) {
    std::size_t bar = text.find("||", start);
    std::string_view set = text.substr(start, bar == std::string_view::npos ? bar : bar - start);
    std::vector<Comparator> all_of;
    std::size_t pos = 0;
    while (pos < set.size()) {
      if (set[pos] == ' ') {
        ++pos;
        continue;
      }
      std::size_t end = set.find(' ', pos);
      std::string_view token = set.substr(pos, end == std::string_view::npos ? end : end - pos);
      pos = end == std::string_view::npos ? set.size() : end;
      Op op = Op::kEq;
      if (token.starts_with(">=")) {
        op = Op::kGe, token.remove_prefix(2);
      } else if (token.starts_with("<=")) {
        op = Op::kLe, token.remove_prefix(2);
      } else if (token.starts_with(">")) {
        op = Op::kGt, token.remove_prefix(1);
      } else if (token.starts_with("<")) {
        op = Op::kLt, token.remove_prefix(1);
      } else if (token.starts_with("=")) {
        token.remove_prefix(1);
      }
      auto version = Version::parse(token);
      if (!version) return bad(version.error().message());
      if (++total > kMaxComparators) return bad("too many comparators");
      all_of.push_back({op, std::move(*version)});
    }
    if (all_of.empty()) return bad("empty comparator set");
    range.any_of_.push_back(std::move(all_of));
    if (bar == std::string_view::npos) break;
    start = bar + 2;
  }
  return range;
}

bool VersionRange::contains(const Version& version) const {
  for (const auto& all_of : any_of_) {
    bool ok = true;
    for (const auto& c : all_of) {
      auto order = version <=> c.version;
      switch (c.op) {
        case Op::kEq: ok = order == 0; break;
        case Op::kLt: ok = order < 0; break;
        case Op::kLe: ok = order <= 0; break;
        case Op::kGt: ok = order > 0; break;
        case Op::kGe: ok = order >= 0; break;
      }
      if (!ok) break;
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace flotilla::common
