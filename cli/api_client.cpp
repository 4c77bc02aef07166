#include "cli/api_client.hpp"

#include <cctype>
#include <cstdio>
#include <curl/curl.h>
#include <iostream>
#include <memory>

#include "cli/command.hpp"
#include "common/time.hpp"

namespace flotilla::cli {
namespace {

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

constexpr std::size_t kMaxResponseBytes = 256u << 20;

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * count > kMaxResponseBytes) return 0;  // abort: absurd response
  out->append(data, size * count);
  return size * count;
}

struct UploadState {
  std::FILE* file = nullptr;
  std::uint64_t size = 0;
  const std::function<void(std::uint64_t, std::uint64_t)>* progress = nullptr;
};

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t uploaded) {
  auto* state = static_cast<UploadState*>(user);
  if (state->progress && *state->progress) (*state->progress)(static_cast<std::uint64_t>(uploaded), state->size);
  return 0;
}

// A download's body: to the file when the answer is a success, else into
// memory (an error document) like any other response.
struct DownloadState {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  std::string* error_body = nullptr;
  std::uint64_t received = 0;
  const std::function<void(std::uint64_t, std::uint64_t)>* progress = nullptr;
};

std::size_t save(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<DownloadState*>(user);
  long status = 0;
  curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) return collect(data, size, count, state->error_body);
  if (std::fwrite(data, size, count, state->file) != count) return 0;
  state->received += size * count;
  if (state->progress && *state->progress) {
    curl_off_t total = -1;
    curl_easy_getinfo(state->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
    (*state->progress)(state->received, total > 0 ? static_cast<std::uint64_t>(total) : 0);
  }
  return size * count;
}

// Once per process, on stderr: a token that stops working within a week
// is better replaced before it does.
void warn_if_token_expires_soon(const std::string& expires_at) {
  static bool warned = false;
  auto when = common::parse_rfc3339(expires_at);
  if (warned || !when) return;
  auto left = std::chrono::duration_cast<std::chrono::hours>(*when - common::now_utc());
  if (left > std::chrono::hours(24 * 7)) return;
  warned = true;
  std::cerr << "warning: the API token in use expires at " << expires_at << " (in " << left.count() / 24 << " days "
            << left.count() % 24 << " hours); an admin gives it a new secret with `flotilla tokens rotate ID`\n";
}

common::Result<ApiResponse> perform(CURL* curl, const std::string& url, DownloadState* download = nullptr) {
  ApiResponse response;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  if (download) {
    download->curl = curl;
    download->error_body = &response.body;
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &save);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, download);
  } else {
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    return common::fail(common::Errc::kIo, "cannot reach the server at " + url + ": " +
                                               (error[0] ? error : curl_easy_strerror(rc)) +
                                               " (is flotilla-server running? set --server or FLOTILLA_SERVER)");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  if (type) response.content_type = type;
  curl_header* expires = nullptr;
  if (curl_easy_header(curl, "X-Flotilla-Token-Expires", 0, CURLH_HEADER, -1, &expires) == CURLHE_OK && expires) {
    response.token_expires = expires->value;
    warn_if_token_expires_soon(response.token_expires);
  }
  return response;
}

}  // namespace

void ApiClient::apply_tls(void* handle) const {
  auto* curl = static_cast<CURL*>(handle);
  if (!ca_file_.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
}

std::string json_text(const common::Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "-";
  return object[key].is_string() ? object[key].get<std::string>() : object[key].dump();
}

std::string url_encode(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

common::Json ApiResponse::json() const { return common::Json::parse(body, nullptr, false); }

ApiClient::ApiClient(std::string base_url, std::optional<std::string> token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)initialised;
}

common::Result<ApiResponse> ApiClient::request(const std::string& method, const std::string& path,
                                               const std::string& body, const std::vector<std::string>& extra) {
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  std::string url = base_url_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  HeaderList headers(nullptr, &curl_slist_free_all);
  auto add_header = [&](const std::string& line) { headers.reset(curl_slist_append(headers.release(), line.c_str())); };
  if (token_) add_header("Authorization: Bearer " + *token_);
  for (const auto& line : extra) add_header(line);
  if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  if (!body.empty()) {
    add_header("Content-Type: application/json");
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 300L);
  apply_tls(curl.get());
  return perform(curl.get(), base_url_);
}

common::Result<ApiResponse> ApiClient::upload(const std::string& path, const std::filesystem::path& file,
                                              const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return common::fail(common::Errc::kIo, file.string() + ": " + ec.message());
  std::unique_ptr<std::FILE, decltype(&std::fclose)> handle(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!handle) return common::fail(common::Errc::kIo, file.string() + ": cannot open");
  UploadState state{handle.get(), size, &progress};

  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  std::string url = base_url_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, handle.get());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
  HeaderList headers(nullptr, &curl_slist_free_all);
  auto add_header = [&](const std::string& line) { headers.reset(curl_slist_append(headers.release(), line.c_str())); };
  if (token_) add_header("Authorization: Bearer " + *token_);
  add_header("Content-Type: application/vnd.flotilla.bundle");
  add_header("Expect:");  // send at once; no 100-continue round trip
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &state);
  apply_tls(curl.get());
  return perform(curl.get(), base_url_);
}

common::Result<ApiResponse> ApiClient::download(const std::string& path, const std::filesystem::path& file,
                                                const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  auto partial = file;
  partial += ".part";
  std::unique_ptr<std::FILE, decltype(&std::fclose)> handle(std::fopen(partial.c_str(), "wb"), &std::fclose);
  if (!handle) return common::fail(common::Errc::kIo, partial.string() + ": cannot create");
  DownloadState state{.file = handle.get(), .progress = &progress};
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  std::string url = base_url_ + path;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  HeaderList headers(nullptr, &curl_slist_free_all);
  if (token_) headers.reset(curl_slist_append(headers.release(), ("Authorization: Bearer " + *token_).c_str()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  apply_tls(curl.get());
  auto response = perform(curl.get(), base_url_, &state);
  bool written = std::fflush(handle.get()) == 0;
  handle.reset();
  std::error_code ec;
  if (!response || !response->ok() || !written) {
    std::filesystem::remove(partial, ec);
    if (response && response->ok()) return common::fail(common::Errc::kIo, file.string() + ": cannot write");
    return response;
  }
  std::filesystem::rename(partial, file, ec);
  if (ec) return common::fail(common::Errc::kIo, file.string() + ": " + ec.message());
  return response;
}

int report_api_error(const ApiResponse& response) {
  auto doc = response.json();
  std::string title = doc.is_object() && doc.contains("title") && doc["title"].is_string() ? doc["title"].get<std::string>() : "HTTP error";
  std::string detail = doc.is_object() && doc.contains("detail") && doc["detail"].is_string() ? doc["detail"].get<std::string>() : "";
  std::cerr << "flotilla: error: " << title << " (" << response.status << ")" << (detail.empty() ? "" : ": " + detail) << "\n";
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array()) {
    for (const auto& e : doc["errors"]) {
      if (e.is_object() && e.contains("path") && e.contains("message")) {
        std::cerr << "  " << e["path"].get<std::string>() << ": " << e["message"].get<std::string>() << "\n";
      }
    }
  }
  if (response.status == 401) std::cerr << "  (pass an API token with --token-file or FLOTILLA_TOKEN_FILE)\n";
  return kExitFailed;
}

}  // namespace flotilla::cli
