// The HTTP transport: cpprest's http_listener behind a plain interface.
// This file and listener.cpp are the only ones that include cpprest
// (archived upstream, slow to compile, no request limits of its own: the
// limits are enforced here, before handlers run).
#pragma once

#include <memory>
#include <string>

#include "common/error.hpp"
#include "server/http/types.hpp"

namespace flotilla::server::http {

struct ListenOptions {
  std::string url = "http://127.0.0.1:8080";  // port 0: pick a free port; https:// needs the two below
  int threads = 4;                             // worker threads of the process-wide pool
  std::string tls_certificate_pem;             // certificate chain, PEM (read once at start)
  std::string tls_private_key_pem;             // its private key, PEM
};

class HttpServer {
 public:
  // Starts listening; `app` must outlive the server.
  static common::Result<std::unique_ptr<HttpServer>> start(const ListenOptions& options, Application& app);
  ~HttpServer();
  // The URL actually listened on (with the chosen port).
  const std::string& url() const;
  // Stops accepting and waits (bounded) for requests in flight to finish.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flotilla::server::http
