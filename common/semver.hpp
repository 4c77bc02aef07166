// Semantic Versioning 2.0.0 versions and the range syntax of DESIGN.md §4:
// comparators (">=2.3.0", "<3.0.0", "=2.4.0" or a bare version) joined by
// spaces (AND), sets joined by "||" (OR).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace flotilla::common {

class Version {
 public:
  static Result<Version> parse(std::string_view text);

  std::uint64_t major() const { return major_; }
  std::uint64_t minor() const { return minor_; }
  std::uint64_t patch() const { return patch_; }
  const std::string& text() const { return text_; }

  // SemVer precedence: build metadata is ignored, a pre-release sorts
  // before its release, identifiers compare numerically or lexically.
  std::strong_ordering operator<=>(const Version& other) const;
  bool operator==(const Version& other) const { return (*this <=> other) == 0; }

 private:
  std::uint64_t major_ = 0, minor_ = 0, patch_ = 0;
  std::vector<std::string> prerelease_;
  std::string text_;
};

class VersionRange {
 public:
  static Result<VersionRange> parse(std::string_view text);
  bool contains(const Version& version) const;
  const std::string& text() const { return text_; }

 private:
  enum class Op { kEq, kLt, kLe, kGt, kGe };
  struct Comparator {
    Op op;
    Version version;
  };
  std::vector<std::vector<Comparator>> any_of_;  // OR of ANDs
  std::string text_;
};

}  // namespace flotilla::common
