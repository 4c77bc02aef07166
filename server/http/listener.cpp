#include "server/http/listener.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cpprest/filestream.h>
#include <cpprest/http_listener.h>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <pplx/threadpool.h>
#include <random>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "common/json.hpp"
#include "common/log.hpp"

namespace flotilla::server::http {

namespace wh = web::http;
using wh::experimental::listener::http_listener;

namespace {

// Small bodies (all JSON routes) are read in small chunks; a large buffer
// per request costs a fresh mmap, page faults and zeroing on every poll.
constexpr std::size_t kSmallReadChunk = 16 * 1024;
constexpr std::size_t kFileReadChunk = 256 * 1024;

// Asks the kernel for a free loopback port: cpprest cannot report the port
// it bound for ":0". Another process could take it before we listen; the
// window is microseconds and a collision fails loudly at open().
common::Result<int> free_port(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return common::fail(common::Errc::kIo, "socket: cannot pick a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  if (port <= 0) return common::fail(common::Errc::kIo, "cannot pick a free port on " + host);
  return port;
}

Response problem(int status, const std::string& title, const std::string& detail) {
  Response response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = common::Json{{"type", "about:blank"}, {"title", title}, {"status", status}, {"detail", detail}}.dump();
  return response;
}

// Reads a request body chunk by chunk without blocking a thread, handing
// each chunk to `consume`; stops with an error past `max_bytes`.
struct BodyReader : std::enable_shared_from_this<BodyReader> {
  concurrency::streams::streambuf<std::uint8_t> buffer;
  std::uint64_t max_bytes;
  std::function<bool(const std::uint8_t*, std::size_t)> consume;  // false: write failed
  std::unique_ptr<std::uint8_t[]> chunk;  // not zero-filled: it is only ever written before read
  std::size_t chunk_size = 0;
  std::uint64_t total = 0;
  pplx::task_completion_event<int> done;  // 0 ok, else an HTTP status

  void next() {
    auto self = shared_from_this();
    buffer.getn(chunk.get(), chunk_size).then([self](pplx::task<std::size_t> read) {
      std::size_t n = 0;
      try {
        n = read.get();
      } catch (...) {
        self->done.set(400);
        return;
      }
      if (n == 0) {
        self->done.set(0);
        return;
      }
      self->total += n;
      if (self->total > self->max_bytes) {
        self->done.set(413);
        return;
      }
      if (!self->consume(self->chunk.get(), n)) {
        self->done.set(500);
        return;
      }
      self->next();
    });
  }
};

std::string random_name() {
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mutex);
  return std::to_string(rng());
}

}  // namespace

struct HttpServer::Impl {
  Application& app;
  std::string url;
  std::unique_ptr<http_listener> listener;
  std::atomic<int> in_flight{0};

  explicit Impl(Application& a) : app(a) {}

  Request translate(const wh::http_request& message) {
    Request request;
    request.method = message.method();
    request.path = web::uri::decode(message.relative_uri().path());
    for (const auto& [key, value] : web::uri::split_query(message.relative_uri().query())) {
      request.query[web::uri::decode(key)] = web::uri::decode(value);
    }
    for (const auto& [name, value] : message.headers()) request.headers[name] = value;
    request.remote_address = message.remote_address();
    return request;
  }

  void reply(wh::http_request message, const Response& response) {
    wh::http_response out(static_cast<wh::status_code>(response.status));
    // Headers go on after the body: set_body() writes Content-Length, and a
    // HEAD response states the length of the body it does not send.
    auto add_headers = [headers = response.headers](wh::http_response& r) {
      for (const auto& [name, value] : headers) r.headers()[name] = value;
      r.headers()["X-Content-Type-Options"] = "nosniff";
    };
    auto finish = [this](pplx::task<void> sent) {
      try {
        sent.get();
      } catch (...) {
        // The client went away; nothing to tell anyone.
      }
      --in_flight;
    };
    if (!response.file) {
      out.set_body(response.body, response.content_type);
      add_headers(out);
      message.reply(out).then(finish);
      return;
    }
    auto file = *response.file;
    auto content_type = response.content_type;
    concurrency::streams::fstream::open_istream(file.path.string(), std::ios::in | std::ios::binary)
        .then([message, out, file, content_type, finish, add_headers](pplx::task<concurrency::streams::istream> opened) mutable {
          // The open stream keeps a removed file readable until it is sent.
          auto remove_if_asked = [&file] {
            std::error_code ec;
            if (file.remove_when_sent) std::filesystem::remove(file.path, ec);
          };
          try {
            auto stream = opened.get();
            remove_if_asked();
            stream.seek(static_cast<concurrency::streams::istream::pos_type>(file.offset));
            out.set_body(stream, static_cast<utility::size64_t>(file.length), content_type);
            add_headers(out);
            // cpprestsdk issue #111: a file buffer destroyed while still
            // open waits for its close on the thread pool; when every pool
            // thread does that at once (a fleet downloading), the server
            // deadlocks. So the stream is closed here, asynchronously,
            // before the last reference to it goes.
            message.reply(out).then([stream, finish](pplx::task<void> sent) mutable {
              stream.close().then([sent, finish](pplx::task<void> closed) mutable {
                try {
                  closed.get();
                } catch (...) {
                  // Closing a read stream cannot lose anything.
                }
                finish(sent);
              });
            });
          } catch (...) {
            remove_if_asked();
            message.reply(wh::status_codes::InternalError).then(finish);
          }
        });
  }

  // Runs the handler (unless reading the body failed with `status`) and
  // sends its answer.
  void complete(const wh::http_request& message, Request& request, int status, std::uint64_t max_bytes) {
    Response response;
    if (status == 413) {
      response = problem(413, "Payload Too Large", "the body may be at most " + std::to_string(max_bytes) + " bytes");
    } else if (status != 0) {
      response = problem(status, status == 400 ? "Bad Request" : "Internal Server Error",
                         "the request body could not be read");
    } else {
      try {
        response = app.handle(request);
      } catch (const std::exception& e) {
        common::log(common::LogLevel::kError, request.method + " " + request.path + ": " + e.what());
        response = problem(500, "Internal Server Error", "the request failed; see the server log");
      }
    }
    if (common::log_enabled(common::LogLevel::kDebug)) {
      // The client address is the front's X-Real-IP when there is one (set by the application).
      common::log(common::LogLevel::kDebug, request.method + " " + request.path + " " + std::to_string(response.status) +
                                                " from " + request.remote_address);
    }
    if (!request.body_file.empty()) {
      std::error_code ec;
      std::filesystem::remove(request.body_file, ec);
    }
    reply(message, response);
  }

  void dispatch(wh::http_request message) {
    ++in_flight;
    auto request = std::make_shared<Request>(translate(message));
    BodyPolicy policy = app.body_policy(request->method, request->path);
    auto declared = message.headers().content_length();
    if (declared > policy.max_bytes) {
      reply(message, problem(413, "Payload Too Large",
                             "the body may be at most " + std::to_string(policy.max_bytes) + " bytes"));
      return;
    }
    bool chunked = message.headers().has("Transfer-Encoding");
    if (policy.kind == BodyPolicy::Kind::kMemory && !chunked) {
      // The common case: a small body of declared length, read in one
      // step (each extra asynchronous step costs a hop through the pool).
      if (declared == 0) {
        complete(message, *request, 0, policy.max_bytes);
        return;
      }
      message.extract_vector().then([this, message, request, max = policy.max_bytes](pplx::task<std::vector<unsigned char>> read) {
        int status = 0;
        try {
          auto bytes = read.get();
          request->body.assign(bytes.begin(), bytes.end());
          request->body_size = bytes.size();
          if (bytes.size() > max) status = 413;
        } catch (...) {
          status = 400;
        }
        complete(message, *request, status, max);
      });
      return;
    }
    auto reader = std::make_shared<BodyReader>();
    reader->buffer = message.body().streambuf();
    reader->max_bytes = policy.max_bytes;
    reader->chunk_size = policy.kind == BodyPolicy::Kind::kFile ? kFileReadChunk : kSmallReadChunk;
    reader->chunk.reset(new std::uint8_t[reader->chunk_size]);
    std::shared_ptr<std::ofstream> file;
    if (policy.kind == BodyPolicy::Kind::kFile) {
      request->body_file = app.upload_dir() / ("upload-" + random_name() + ".part");
      file = std::make_shared<std::ofstream>(request->body_file, std::ios::binary | std::ios::trunc);
      reader->consume = [file](const std::uint8_t* data, std::size_t n) {
        file->write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
        return static_cast<bool>(*file);
      };
    } else {
      reader->consume = [request](const std::uint8_t* data, std::size_t n) {
        request->body.append(reinterpret_cast<const char*>(data), n);
        return true;
      };
    }
    pplx::create_task(reader->done).then([this, message, request, reader, file](int status) {
      request->body_size = reader->total;
      if (file) {
        file->flush();
        bool ok = static_cast<bool>(*file);
        file->close();
        if (!ok && status == 0) status = 500;
      }
      complete(message, *request, status, reader->max_bytes);
    });
    reader->next();
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { stop(); }

const std::string& HttpServer::url() const { return impl_->url; }

common::Result<std::unique_ptr<HttpServer>> HttpServer::start(const ListenOptions& options, Application& app) {
  static std::once_flag pool_once;
  std::call_once(pool_once, [&] { crossplat::threadpool::initialize_with_threads(static_cast<std::size_t>(std::max(1, options.threads))); });

  auto impl = std::make_unique<Impl>(app);
  try {
    web::uri uri(options.url);
    bool tls = uri.scheme() == "https";
    if (!tls && uri.scheme() != "http") return common::fail(common::Errc::kBadField, "--listen: must be http:// or https://");
    if (tls && (options.tls_certificate_pem.empty() || options.tls_private_key_pem.empty())) {
      return common::fail(common::Errc::kBadField, "--listen https:// needs --tls-cert and --tls-key");
    }
    int port = uri.port();
    if (port == 0) {
      auto chosen = free_port(uri.host());
      if (!chosen) return std::unexpected(chosen.error());
      port = *chosen;
    }
    impl->url = std::string(tls ? "https://" : "http://") + uri.host() + ":" + std::to_string(port);
    wh::experimental::listener::http_listener_config config;
    config.set_timeout(std::chrono::seconds(60));
    if (tls) {
      // The callback runs for every connection: the PEM comes from memory,
      // read once at start, never from disk per handshake.
      config.set_ssl_context_callback([cert = options.tls_certificate_pem, key = options.tls_private_key_pem](
                                          boost::asio::ssl::context& context) {
        namespace ssl = boost::asio::ssl;
        context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
        context.use_certificate_chain(boost::asio::buffer(cert));
        context.use_private_key(boost::asio::buffer(key), ssl::context::pem);
      });
    }
    impl->listener = std::make_unique<http_listener>(web::uri(impl->url), config);
    Impl* raw = impl.get();
    impl->listener->support([raw](wh::http_request message) { raw->dispatch(std::move(message)); });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return common::fail(common::Errc::kIo, "cannot listen on " + options.url + ": " + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::stop() {
  if (!impl_ || !impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (...) {
  }
  impl_->listener.reset();
  // Drain: give requests already being handled up to 30 s to finish.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace flotilla::server::http
