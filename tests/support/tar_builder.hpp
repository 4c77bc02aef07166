// Builds tar archives byte by byte, including ones no honest tool would
// write (lying sizes, links, '..' names, truncation), for hostile-input
// tests. Independent of libarchive so the reader is tested against a
// second implementation of the format.
#pragma once

#include <cstdint>
#include <string>

namespace flotilla::testing {

class TarBuilder {
 public:
  enum class Type : char { kRegular = '0', kHardLink = '1', kSymlink = '2', kCharDevice = '3',
                           kDirectory = '5', kFifo = '6' };

  // Adds an entry whose header declares `declared_size` (default: the
  // content's size) but whose data is `content`, padded to 512 bytes.
  TarBuilder& add(const std::string& name, const std::string& content, Type type = Type::kRegular,
                  const std::string& link_target = "", long long declared_size = -1);
  // The archive with its two zero end blocks.
  std::string finish() const;
  // The archive without end blocks, cut to `bytes`.
  std::string truncated(std::size_t bytes) const { return data_.substr(0, bytes); }
  std::size_t size() const { return data_.size(); }

 private:
  void header(const std::string& name, std::size_t size, Type type, const std::string& link);
  std::string data_;
};

}  // namespace flotilla::testing
