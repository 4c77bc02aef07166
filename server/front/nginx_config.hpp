// The front of the server: the nginx configuration flotilla-server
// generates from its own settings (docs/deploy-nginx.md). cpprest's
// listener has no header-size limit, idle timeout or connection cap, so
// every byte from outside reaches it through nginx, which has all three.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace flotilla::server::front {

// nginx sends bundle files from this internal location after the server
// authorised the download (X-Accel-Redirect).
inline constexpr const char* kBundleLocation = "/_flotilla_bundles/";
// ... and reports and audit exports the server wrote for one request
// (compliance, audit log) from this one: a file of gigabytes goes out by
// sendfile instead of through the server's own transport.
inline constexpr const char* kExportLocation = "/_flotilla_exports/";
// The front adds this header (with a secret of this run) to every request
// it passes on; the server answers only requests that carry it, so a local
// process cannot bypass the front's limits or forge a client address.
inline constexpr const char* kFrontHeader = "X-Flotilla-Front";

// The front asks the server whether an upload may proceed before it reads
// the body (auth_request), naming the request's method in this header.
inline constexpr const char* kOriginalMethodHeader = "X-Flotilla-Method";
inline constexpr const char* kUploadPermissionPath = "/api/v1/me/upload-permission";
// Set by the front on every request it passes on: nginx's verdict on the
// client certificate (SUCCESS, FAILED:reason, NONE) and its subject
// (RFC 2253). Trusted only from the front (its secret proves the origin).
inline constexpr const char* kClientVerifyHeader = "X-Flotilla-Client-Verify";
inline constexpr const char* kClientSubjectHeader = "X-Flotilla-Client-Subject";

// What the front enforces. The values are documented, with the reason for
// each, in docs/deploy-nginx.md; tests read them from here.
struct FrontLimits {
  int header_timeout_s = 10;         // whole request line + headers
  int body_timeout_s = 30;           // between two reads of a body
  int send_timeout_s = 60;           // between two writes to a slow reader
  int keepalive_timeout_s = 15;      // an idle kept-alive connection
  int header_buffer_kib = 8;         // longest request line or header line
  int header_buffers = 4;            // all headers together: buffers × size
  int max_body_kib = 1024;           // JSON bodies (the server's own limit)
  int max_device_body_kib = 256;     // device routes
  int worker_processes = 2;
  int worker_connections = 4096;     // per worker: clients and upstream
  int connections_per_address = 256; // requests in progress per client address
  int device_auth_per_s = 50;        // device/auth per client address (a NAT of devices)
  int device_auth_burst = 500;
};

struct FrontSettings {
  // Where clients connect: the numeric address and port of the socket the
  // server bound (nginx inherits it), "127.0.0.1" or "[::1]".
  std::string listen_address;
  int listen_port = 0;
  bool tls = false;
  std::string tls_cert, tls_key;    // absolute paths (PEM)
  std::string tls_client_ca;        // optional: request device certificates
  int upstream_port = 0;            // the cpprest listener on 127.0.0.1
  std::optional<std::string> front_secret;
  std::filesystem::path bundle_dir; // served under kBundleLocation
  std::filesystem::path export_dir; // served under kExportLocation
  std::filesystem::path prefix;     // the front's own directory: pid, temp files
  std::string user;                 // "user group" when started as root, else empty
  long open_files = 0;              // worker_rlimit_nofile; 0: leave as inherited
  FrontLimits limits;
};

// The whole nginx.conf. Every path in it is absolute.
std::string nginx_config(const FrontSettings& settings);

}  // namespace flotilla::server::front
