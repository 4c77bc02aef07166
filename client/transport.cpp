#include "client/transport.hpp"
#include "client/url_rules.hpp"

#include "common/log.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace flotilla::client {

namespace {

constexpr std::size_t kMaxResponseBytes = 1 << 20;
constexpr std::size_t kPendingLimit = 256 * 1024;  // pause the transfer beyond this

void init_curl() {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)initialised;
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * count > kMaxResponseBytes) return 0;
  out->append(data, size * count);
  return size * count;
}

constexpr long kDownloadBufferBytes = 128 * 1024;

void apply_common(CURL* curl, const std::optional<std::string>& ca_file) {
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  if (ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file->c_str());
}

}  // namespace

Transport::Transport(std::string base_url, std::optional<std::string> ca_file)
    : base_url_(std::move(base_url)), ca_file_(std::move(ca_file)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  init_curl();
}

common::Result<HttpResponse> Transport::request(const std::string& method, const std::string& path, const std::string& body,
                                                const std::vector<std::string>& headers) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return common::fail(common::Errc::kIo, "cannot start an HTTP request");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Content-Type: application/json");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list, &curl_slist_free_all);
  std::string url = base_url_ + path;
  // The server's requests carry the device's token or signed reports.
  if (auto ok = require_tls_unless_loopback(url, "the server's URL"); !ok) return std::unexpected(ok.error());
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};
  apply_common(curl.get(), ca_file_);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  if (method != "GET") {
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response.body);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return common::fail(common::Errc::kIo, "cannot reach " + url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

common::Result<std::unique_ptr<HttpSource>> HttpSource::open(DownloadOptions options, Env& env) {
  init_curl();
  std::unique_ptr<HttpSource> source(new HttpSource(std::move(options), env));
  source->offset_ = source->options_.start_offset;
  source->multi_ = curl_multi_init();
  if (!source->multi_) return common::fail(common::Errc::kIo, "cannot start a download");
  if (auto ok = source->start(); !ok) return std::unexpected(ok.error());
  return source;
}

HttpSource::~HttpSource() {
  stop();
  if (multi_) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

std::size_t HttpSource::on_data(char* data, std::size_t size, std::size_t count, void* self_ptr) {
  auto* self = static_cast<HttpSource*>(self_ptr);
  std::size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(static_cast<CURL*>(self->easy_), CURLINFO_RESPONSE_CODE, &status);
  // A ranged request must answer 206 from our offset, a whole one 200.
  if (status != (self->expect_partial_ ? 206 : 200)) {
    self->refused_ = "the server answered HTTP " + std::to_string(status);
    return 0;
  }
  if (self->buffered() >= kPendingLimit) {
    self->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  // Never more than the offered size: a server cannot feed endless bytes.
  std::uint64_t total = self->offset_ + self->buffered() + n;
  if (self->options_.size > 0 && total > self->options_.size) {
    self->refused_ = "the server sent more than the offered " + std::to_string(self->options_.size) + " bytes";
    return 0;
  }
  if (self->env_.drops_connection(self->connections_ - 1, total)) return 0;  // libcurl ends this transfer, read() resumes it
  // Straight into the reader's buffer while it waits (one copy less per
  // byte); what does not fit waits in pending_, after it.
  std::size_t direct = std::min(n, self->direct_.size() - self->direct_filled_);
  if (direct > 0) {
    std::memcpy(self->direct_.data() + self->direct_filled_, data, direct);
    self->direct_filled_ += direct;
  }
  self->pending_.append(data + direct, n - direct);
  self->attempt_bytes_ += n;
  return n;
}

common::Status HttpSource::start() {
  stop();
  // A download with credentials (the server's own) needs TLS off this
  // machine; a mirror gets none, and the bundle is verified end to end.
  if (!options_.headers.empty()) {
    if (auto ok = require_tls_unless_loopback(options_.url, "the bundle's download URL"); !ok) return ok;
  }
  CURL* easy = curl_easy_init();
  if (!easy) return common::fail(common::Errc::kIo, "cannot start a download");
  easy_ = easy;
  ++connections_;
  curl_slist* list = nullptr;
  for (const auto& h : options_.headers) list = curl_slist_append(list, h.c_str());
  headers_ = list;
  apply_common(easy, options_.ca_file);
  curl_easy_setopt(easy, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpSource::on_data);
  // Bigger reads than libcurl's 16 KiB: a GiB is 8,192 socket reads and
  // callbacks instead of 65,536 (measured: the streamed install of 512 MiB
  // 1.31-1.39 s -> 1.15-1.19 s, peak RSS +0.2 MiB; 256 KiB gained no more).
  curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, kDownloadBufferBytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stalled transfer counts as dropped
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 30L);
  if (options_.bandwidth_limit > 0) {
    curl_easy_setopt(easy, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(options_.bandwidth_limit));
  }
  std::uint64_t from = offset_ + buffered();
  expect_partial_ = from > 0;
  if (expect_partial_) {
    std::string range = std::to_string(from) + "-";
    curl_easy_setopt(easy, CURLOPT_RANGE, range.c_str());  // copied by libcurl
  }
  paused_ = false;
  done_ = false;
  attempt_bytes_ = 0;
  curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
  return {};
}

void HttpSource::stop() {
  if (easy_) {
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(easy_));
    curl_easy_cleanup(static_cast<CURL*>(easy_));
    easy_ = nullptr;
  }
  if (headers_) curl_slist_free_all(static_cast<curl_slist*>(headers_));
  headers_ = nullptr;
}

common::Result<std::size_t> HttpSource::read(std::span<std::uint8_t> buffer) {
  auto* multi = static_cast<CURLM*>(multi_);
  // Bytes already waiting come first; only then does the transfer write
  // into `buffer` itself.
  if (pending_.size() == pending_at_) direct_ = buffer;
  direct_filled_ = 0;
  // The transfer never writes into a buffer its reader has let go of.
  struct Release {
    std::span<std::uint8_t>& direct;
    ~Release() { direct = {}; }
  } release{direct_};
  while (buffered() == 0) {
    if (options_.size > 0 && offset_ >= options_.size) return 0;  // all the offered bytes
    if (done_) return 0;
    if (paused_) {
      paused_ = false;
      curl_easy_pause(static_cast<CURL*>(easy_), CURLPAUSE_CONT);
    }
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) return common::fail(common::Errc::kIo, "the download failed");
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      CURLcode rc = msg->data.result;
      bool complete = refused_.empty() && rc == CURLE_OK && (status == 200 || status == 206);
      bool dropped = refused_.empty() && (status == 0 || status == 200 || status == 206);
      std::string why = !refused_.empty() ? refused_ : rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP " + std::to_string(status);
      if (complete && (options_.size == 0 || offset_ + buffered() >= options_.size)) {
        done_ = true;
      } else if (dropped && resumes_ < options_.max_resumes && (attempt_bytes_ > 0 || !options_.fallback)) {
        // Dropped mid-way: resume from what we have; when nothing came
        // through, first give the far end time to come back.
        ++resumes_;
        if (attempt_bytes_ > 0) {
          empty_attempts_ = 0;
        } else {
          auto wait = std::min(options_.resume_backoff * (1 << std::min(empty_attempts_++, 16)), options_.max_resume_backoff);
          common::log(common::LogLevel::kWarn, "download from " + options_.url + " interrupted (" + why + "); resume " +
                                                   std::to_string(resumes_) + " of " + std::to_string(options_.max_resumes) +
                                                   " in " + std::to_string(wait.count()) + " ms");
          std::this_thread::sleep_for(wait);
        }
        if (auto ok = start(); !ok) return std::unexpected(ok.error());
        running = 1;
      } else if (options_.fallback) {
        // The first source cannot be reached, refuses, or keeps dropping:
        // the rest comes from the fallback (the bytes are checked against
        // the signed manifest whichever source sent them).
        common::log(common::LogLevel::kWarn, "download from " + options_.url + " failed (" + why + "); continuing from " +
                                                 options_.fallback->url);
        options_.url = std::move(options_.fallback->url);
        options_.headers = std::move(options_.fallback->headers);
        options_.ca_file = std::move(options_.fallback->ca_file);
        options_.fallback.reset();
        fell_back_ = true;
        refused_.clear();
        resumes_ = 0;
        if (auto ok = start(); !ok) return std::unexpected(ok.error());
        running = 1;
      } else {
        return common::fail(common::Errc::kIo, "the download of " + options_.url + " failed: " + why +
                                                   (resumes_ > 0 ? " after " + std::to_string(resumes_) + " resumes" : ""));
      }
    }
    if (buffered() != 0 || done_) break;
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  std::size_t n = direct_filled_;
  direct_filled_ = 0;
  if (n == 0) {
    n = std::min(pending_.size() - pending_at_, buffer.size());
    std::memcpy(buffer.data(), pending_.data() + pending_at_, n);
    pending_at_ += n;
  }
  offset_ += n;
  if (pending_at_ == pending_.size()) {
    pending_.clear();
    pending_at_ = 0;
  }
  env_.downloaded(offset_);
  return n;
}

}  // namespace flotilla::client
