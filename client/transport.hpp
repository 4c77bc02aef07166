// The agent's HTTP side (libcurl): small JSON requests, and the bundle
// download as a pull stream that feeds the bundle reader directly — no
// temporary file, one pass — resuming with Range after a dropped
// connection (DESIGN.md §8).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "artifacts/stream.hpp"
#include "client/env.hpp"
#include "common/error.hpp"

namespace flotilla::client {

struct HttpResponse {
  long status = 0;
  std::string body;
};

class Transport {
 public:
  Transport(std::string base_url, std::optional<std::string> ca_file);
  // `path` is appended to the base URL; `headers` are "Name: value".
  common::Result<HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::vector<std::string>& headers) const;
  const std::string& base_url() const { return base_url_; }
  const std::optional<std::string>& ca_file() const { return ca_file_; }

 private:
  std::string base_url_;
  std::optional<std::string> ca_file_;
};

struct DownloadOptions {
  std::string url;                 // absolute
  std::vector<std::string> headers;
  std::optional<std::string> ca_file;
  // Where the rest comes from when `url` cannot be reached or refuses (a
  // mirror that is down, or not synced yet): continued there with Range
  // from the bytes already read, with its own headers and CA.
  struct Fallback {
    std::string url;
    std::vector<std::string> headers;
    std::optional<std::string> ca_file;
  };
  std::optional<Fallback> fallback;
  std::uint64_t size = 0;          // as offered: more is never read
  int max_resumes = 8;
  // Before a resume after a connection that delivered nothing (the server
  // restarting, a link down), a wait doubling from `resume_backoff` up to
  // `max_resume_backoff`: the eight resumes span about 90 s instead of a
  // few milliseconds. A connection that delivered bytes resumes at once.
  std::chrono::milliseconds resume_backoff{500};
  std::chrono::milliseconds max_resume_backoff{30000};
  std::int64_t bandwidth_limit = 0;  // bytes per second, 0 = none
  // The first byte wanted (a download resumed after a power cut): the
  // first request asks for `Range: bytes=start_offset-`.
  std::uint64_t start_offset = 0;
};

// Pulls the download through libcurl's multi interface: read() runs the
// transfer until bytes are there. A connection that drops (or stalls for
// 30 s) is resumed with `Range: bytes=OFFSET-` up to max_resumes times,
// after a growing wait while nothing comes through; a URL that cannot be
// reached or refuses hands over to the fallback at once.
class HttpSource final : public artifacts::ByteSource {
 public:
  // `env` hears of every byte read and may drop a connection (faults).
  static common::Result<std::unique_ptr<HttpSource>> open(DownloadOptions options, Env& env = system_env());
  ~HttpSource() override;
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override;
  std::uint64_t offset() const { return offset_; }
  int resumes() const { return resumes_; }
  // The URL bytes come from now; whether the fallback took over.
  const std::string& url() const { return options_.url; }
  bool fell_back() const { return fell_back_; }

 private:
  HttpSource(DownloadOptions options, Env& env) : options_(std::move(options)), env_(env) {}
  common::Status start();
  void stop();
  static std::size_t on_data(char* data, std::size_t size, std::size_t count, void* self);

  DownloadOptions options_;
  Env& env_;
  void* multi_ = nullptr;
  void* easy_ = nullptr;
  void* headers_ = nullptr;
  std::string pending_;          // bytes received but not yet read
  std::size_t pending_at_ = 0;
  std::span<std::uint8_t> direct_;  // the buffer of the read() under way
  std::size_t direct_filled_ = 0;   // bytes the transfer put there
  std::size_t buffered() const { return direct_filled_ + (pending_.size() - pending_at_); }
  std::uint64_t offset_ = 0;     // bytes handed to the reader
  bool done_ = false;
  bool paused_ = false;
  bool expect_partial_ = false;  // this attempt asked for a range
  std::string refused_;          // why on_data ended the transfer for good
  int resumes_ = 0;
  std::uint64_t attempt_bytes_ = 0;  // received by the current connection
  int empty_attempts_ = 0;           // connections in a row that delivered nothing
  bool fell_back_ = false;
  int connections_ = 0;  // started so far, the fallback's included
};

}  // namespace flotilla::client
