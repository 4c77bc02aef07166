// Where bundle bytes come from, and where payload bytes go.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "artifacts/manifest.hpp"
#include "common/error.hpp"

namespace flotilla::artifacts {

// A pull stream of bundle bytes: a file, a pipe, an HTTP download.
// Called from one thread; not required to be thread-safe.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills up to buffer.size() bytes; returns 0 only at the end of the stream.
  virtual common::Result<std::size_t> read(std::span<std::uint8_t> buffer) = 0;
};

// Reads a file descriptor it owns. "-" reads standard input.
class FileSource final : public ByteSource {
 public:
  static common::Result<std::unique_ptr<FileSource>> open(const std::string& path);
  ~FileSource() override;
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override;

 private:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Receives one payload's bytes as they stream past the hasher. The reader
// calls write() any number of times, then exactly one of:
//   finish() then later commit()  — digest matched and the whole bundle was valid
//   abort()                       — anything went wrong, at any point
// A sink must leave no visible effect until commit() (stage into the
// inactive slot or a temporary file, never over live data).
class PayloadSink {
 public:
  virtual ~PayloadSink() = default;
  virtual common::Status write(std::span<const std::uint8_t> bytes) = 0;
  // The digest matched: make the staged bytes durable (fsync).
  virtual common::Status finish() = 0;
  // Every payload and the archive's end were verified: make it take effect.
  virtual common::Status commit() = 0;
  virtual void abort() = 0;
};

// Opens a sink for each payload, called only after the manifest verified and
// the payload's entry header matched it. Its errors (and a sink's) rise
// with their own code and the payload's name as context.
class SinkFactory {
 public:
  virtual ~SinkFactory() = default;
  virtual common::Result<std::unique_ptr<PayloadSink>> open(const Manifest& manifest,
                                                            const Payload& payload) = 0;
};

// Drops every byte; for verification without installing.
class DiscardSinkFactory final : public SinkFactory {
 public:
  common::Result<std::unique_ptr<PayloadSink>> open(const Manifest&, const Payload&) override;
};

}  // namespace flotilla::artifacts
