// Internal: the one place libarchive is used for reading. Presents a tar
// (optionally zstd, gzip or xz compressed as a whole) as a sequence of entry
// headers and data blocks, pulled from a ByteSource.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "artifacts/stream.hpp"

namespace flotilla::artifacts::detail {

struct EntryHeader {
  std::string path;
  bool regular = false;  // a plain regular file: no link, no sparse map
  bool size_known = false;
  std::uint64_t size = 0;
  // Where the entry's data starts in the bundle's bytes; unknown (nullopt)
  // when the bundle is compressed as a whole.
  std::optional<std::uint64_t> data_offset;
};

class TarStream {
 public:
  explicit TarStream(ByteSource& source);
  ~TarStream();
  TarStream(const TarStream&) = delete;
  TarStream& operator=(const TarStream&) = delete;

  // The next entry's header, or nullopt at the archive's end.
  common::Result<std::optional<EntryHeader>> next();
  // The next block of the current entry's data; empty at the entry's end.
  // Fails if the data has holes (a sparse entry) or the stream is cut.
  common::Result<std::span<const std::uint8_t>> read_block();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flotilla::artifacts::detail
