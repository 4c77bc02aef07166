// Small, careful file helpers. Failures name the path.
#pragma once

#include <filesystem>
#include <string>
#include <vector>
#include <sys/types.h>

#include "common/error.hpp"

namespace flotilla::common {

// Reads a whole file, refusing files larger than `max_bytes` (checked while
// reading, so a growing file or a device node cannot exhaust memory).
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes);

// Writes `data` to a temporary file beside `path`, fsyncs it, renames it over
// `path` and fsyncs the directory: a power cut leaves the old or the new
// content, never a mix. The file gets `mode`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode);

// Creates `path` with `mode` and writes `data`; fails if it exists, so a
// key or a token is never silently replaced. Atomic like
// write_file_atomic: after a power cut the file is whole or absent.
Status write_file_exclusive(const std::filesystem::path& path, std::string_view data, mode_t mode);

// Files being written for one answer (an export): removed with all they
// hold when this goes out of scope, by a return or an exception, unless
// keep() was called once they were complete.
class PartialFiles {
 public:
  explicit PartialFiles(std::vector<std::filesystem::path> paths) : paths_(std::move(paths)) {}
  PartialFiles(const PartialFiles&) = delete;
  PartialFiles& operator=(const PartialFiles&) = delete;
  ~PartialFiles();
  void keep() { kept_ = true; }

 private:
  std::vector<std::filesystem::path> paths_;
  bool kept_ = false;
};

}  // namespace flotilla::common
