// flotilla-server: init a data directory, or serve the API from one.
#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <sys/stat.h>

#include "artifacts/manifest.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "common/log.hpp"
#include "server/api/app.hpp"
#include "server/api/auth.hpp"
#include "server/backup/backup.hpp"
#include "server/backup/commands.hpp"
#include "server/control/control_socket.hpp"
#include "server/front/front.hpp"
#include "server/http/listener.hpp"
#include "server/scheduler/scheduler.hpp"
#include "server/store/sql_store.hpp"
#include "server/store/sql.hpp"
#include "signing/key.hpp"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

int fail(const common::Error& error) {
  std::cerr << "flotilla-server: error: " << error.describe() << "\n";
  return kExitFailed;
}

// Settings keys of this file.
constexpr const char* kReportKeyIdSetting = "report_key_id";

// Where the store lives: --store, or the SQLite file in the data directory.
std::string store_location(const fs::path& data, const std::string& store) {
  return store.empty() ? (data / "flotilla.db").string() : store;
}

bool is_shared(const std::string& location) { return server::sql::engine_of(location) == server::sql::Engine::kPostgres; }

// A PostgreSQL database some server already initialised: another server
// joins it by serving, with the first one's report key.
common::Result<bool> already_initialised(server::Store& store) {
  auto report_key = store.setting(kReportKeyIdSetting);
  if (!report_key) return std::unexpected(report_key.error());
  auto tokens = store.list_tokens();
  if (!tokens) return std::unexpected(tokens.error());
  return report_key->has_value() || !tokens->empty();
}

int run_init(const fs::path& data, const std::string& root_path, const std::string& store_flag) {
  if (fs::exists(data) && !fs::is_empty(data)) {
    std::cerr << "flotilla-server: " << data.string() << " exists and is not empty; refusing to overwrite it\n";
    return kExitUsage;
  }
  std::optional<signing::TrustRoot> root;
  if (!root_path.empty()) {
    auto loaded = signing::TrustRoot::load(root_path);
    if (!loaded) return fail(loaded.error());
    if (auto ok = loaded->check_current(common::now_utc()); !ok) return fail(ok.error().with_context(root_path));
    root = std::move(*loaded);
  }
  const std::string location = store_location(data, store_flag);
  std::unique_ptr<server::SqlStore> store;
  if (is_shared(location)) {
    // Checked before anything is written: a second server must not mint a
    // second admin token and report key for the same fleet.
    auto opened = server::SqlStore::open(location);
    if (!opened) return fail(opened.error());
    auto initialised = already_initialised(**opened);
    if (!initialised) return fail(initialised.error());
    if (*initialised) {
      std::cerr << "flotilla-server: the database " << server::sql::redacted(location)
                << " is already initialised by another server.\nTo add a server to it, make its data directory "
                   "with the first server's report key (cp report.key report.pub from the first data directory) and run "
                   "`flotilla-server serve --data DIR --store URL` (docs/scale-out.md)\n";
      return kExitUsage;
    }
    store = std::move(*opened);
  }
  fs::create_directories(data);
  fs::permissions(data, fs::perms::owner_all);
  if (!store) {
    auto opened = server::SqlStore::open(location);
    if (!opened) return fail(opened.error());
    store = std::move(*opened);
  }

  // The report key signs compliance reports (DESIGN.md §9); its id is
  // recorded, so every server of the fleet is checked to sign with it.
  auto report_key = signing::PrivateKey::generate(signing::Algorithm::kEcdsaP256);
  if (!report_key) return fail(report_key.error());
  if (auto ok = signing::save_key_pair(*report_key, (data / "report").string()); !ok) return fail(ok.error());

  std::string actor = "system:init";
  if (auto ok = store->set_settings({{kReportKeyIdSetting, report_key->key_id()}},
                                    {actor, "server.init", "server", "ok", {{"report_key_id", report_key->key_id()}}});
      !ok) {
    return fail(ok.error());
  }
  if (root) {
    if (auto ok = store->set_settings({{server::api::kTrustRootSetting, root->envelope_json()},
                                       {server::api::trust_root_version_setting(root->version()), root->envelope_json()}},
                                      {actor, "trust.set", "root:" + std::to_string(root->version()), "ok",
                                       {{"version", root->version()}}});
        !ok) {
      return fail(ok.error());
    }
  }
  std::string secret = server::api::new_token_secret();
  server::TokenRecord admin{.name = "admin", .role = "admin", .created_at = common::format_rfc3339(common::now_utc())};
  if (auto id = store->create_token(admin, server::api::token_hash(secret),
                                    {actor, "token.create", "token:admin", "ok", {{"role", "admin"}}});
      !id) {
    return fail(id.error());
  }
  auto token_path = data / "admin.token";
  if (auto ok = common::write_file_exclusive(token_path, secret + "\n", 0600); !ok) return fail(ok.error());
  std::cout << "initialised " << data.string() << (is_shared(location) ? " and " + server::sql::redacted(location) : "")
            << "\n"
            << "admin token written to " << token_path.string() << " (mode 0600; keep it secret)\n"
            << "report key id " << report_key->key_id() << "\n";
  if (!root) std::cout << "no trust root yet: upload one with `flotilla trust upload ROOT.json`\n";
  return kExitOk;
}

// Every server of a fleet signs reports with the key `init` made: a data
// directory without it, or with another, would sign reports an auditor
// cannot check against the fleet's key.
int check_report_key(server::Store& store, const fs::path& data) {
  auto recorded = store.setting(kReportKeyIdSetting);
  if (!recorded) return fail(recorded.error());
  if (!*recorded) return kExitOk;  // a database from before the id was recorded
  auto key = signing::load_private_key((data / "report.key").string());
  std::string found = key ? key->key_id() : "none (" + key.error().message() + ")";
  if (key && found == **recorded) return kExitOk;
  std::cerr << "flotilla-server: " << (data / "report.key").string() << " is not this fleet's report key (the database "
            << "records key id " << **recorded << ", the file has " << found << ").\nCopy report.key and report.pub "
            << "from the data directory of the server that ran `flotilla-server init` (docs/scale-out.md)\n";
  return kExitUsage;
}

struct ServeOptions {
  std::string data;
  std::string store;            // empty: DATA/flotilla.db
  int store_connections = 0;    // 0: the worker threads and two more
  std::string bundle_dir;       // empty: DATA/bundles
  std::string bundle_base_url;  // empty: devices download from this server
  server::http::ListenOptions listen;
  std::string public_url;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string front = "nginx";  // or "none": cpprest listens on --listen itself
  std::string accel_redirect;
  std::string ddi_tenant{server::ddi::kDefaultTenant};
  int poll_interval_s = 60;
  int token_lifetime_days = 90;  // of operator tokens made without an expiry; 0: none
  int export_grace_s = 60;       // a report handed to the front stays this long
  double scheduler_interval_s = 5;
  bool debug = false;
  bool no_ui = false;
};

// Reads a JSON config (same names as the flags, without dashes) into the
// options the command line did not set: flags win.
int apply_config(const std::string& path, const CLI::App& serve, ServeOptions& o) {
  auto text = common::read_file(path, 1 << 20);
  if (!text) return fail(text.error().with_context("--config"));
  auto doc = common::parse_json_strict(*text);
  if (!doc) return fail(doc.error().with_context(path));
  auto object = common::JsonObject::of(*doc, "");
  if (!object) return fail(object.error().with_context(path));
  if (auto ok = object->only_keys({"data", "store", "store_connections", "bundle_dir", "bundle_base_url", "listen", "threads",
                                   "public_url", "poll_interval", "token_lifetime_days", "debug", "tls_cert", "tls_key", "tls_client_ca", "accel_redirect",
                                   "scheduler_interval", "no_ui", "front", "ddi_tenant", "export_grace"});
      !ok) {
    return fail(ok.error().with_context(path));
  }
  auto take_string = [&](const char* key, const char* flag, std::string& target) -> bool {
    if (!object->has(key) || serve.count(flag) > 0) return true;
    auto value = object->string(key, 4096);
    if (!value) {
      fail(value.error().with_context(path));
      return false;
    }
    target = *value;
    return true;
  };
  if (!take_string("data", "--data", o.data) || !take_string("store", "--store", o.store) ||
      !take_string("bundle_dir", "--bundle-dir", o.bundle_dir) ||
      !take_string("bundle_base_url", "--bundle-base-url", o.bundle_base_url) || !take_string("listen", "--listen", o.listen.url) ||
      !take_string("public_url", "--public-url", o.public_url) || !take_string("tls_cert", "--tls-cert", o.tls_cert) ||
      !take_string("tls_key", "--tls-key", o.tls_key) || !take_string("tls_client_ca", "--tls-client-ca", o.tls_client_ca) ||
      !take_string("front", "--front", o.front) || !take_string("accel_redirect", "--accel-redirect", o.accel_redirect) ||
      !take_string("ddi_tenant", "--ddi-tenant", o.ddi_tenant)) {
    return kExitUsage;
  }
  if (!artifacts::is_safe_name(o.ddi_tenant, 64)) {
    return fail(common::Error(common::Errc::kBadField, "/ddi_tenant: must match [A-Za-z0-9._-]{1,64}").with_context(path));
  }
  struct IntegerSetting {
    const char* key;
    const char* flag;
    std::int64_t min, max;
    int* target;
  };
  for (const auto& setting : {IntegerSetting{"threads", "--threads", 1, 256, &o.listen.threads},
                              IntegerSetting{"store_connections", "--store-connections", 1, 256, &o.store_connections},
                              IntegerSetting{"poll_interval", "--poll-interval", 5, 86400, &o.poll_interval_s},
                              IntegerSetting{"token_lifetime_days", "--token-lifetime-days", 0, 3650, &o.token_lifetime_days},
                              IntegerSetting{"export_grace", "--export-grace", 1, 3600, &o.export_grace_s}}) {
    if (!object->has(setting.key) || serve.count(setting.flag) > 0) continue;
    auto n = object->integer(setting.key, setting.min, setting.max);
    if (!n) return fail(n.error().with_context(path));
    *setting.target = static_cast<int>(*n);
  }
  if (object->has("scheduler_interval") && serve.count("--scheduler-interval") == 0) {
    const auto& value = (*doc)["scheduler_interval"];
    if (!value.is_number() || value.get<double>() < 0.1 || value.get<double>() > 3600) {
      return fail(common::Error(common::Errc::kBadField, "/scheduler_interval: must be a number of seconds from 0.1 to 3600")
                      .with_context(path));
    }
    o.scheduler_interval_s = value.get<double>();
  }
  for (auto [key, flag, target] : {std::tuple{"debug", "--debug", &o.debug}, std::tuple{"no_ui", "--no-ui", &o.no_ui}}) {
    if (!object->has(key) || serve.count(flag) > 0) continue;
    if (!(*doc)[key].is_boolean()) return fail(common::Error(common::Errc::kBadField, std::string("/") + key + ": must be true or false").with_context(path));
    *target = (*doc)[key].get<bool>();
  }
  return kExitOk;
}

// Checks --front and the TLS flags; fills the PEMs for a direct listener.
int check_transport(const ServeOptions& o, server::http::ListenOptions& listen) {
  if (o.front != "nginx" && o.front != "none") {
    std::cerr << "flotilla-server: --front: must be nginx or none, not " << o.front.substr(0, 64) << "\n";
    return kExitUsage;
  }
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty()) {
      std::cerr << "flotilla-server: --tls-cert and --tls-key go together\n";
      return kExitUsage;
    }
    auto cert = common::read_file(o.tls_cert, 1 << 20);
    if (!cert) return fail(cert.error().with_context("--tls-cert"));
    auto key = common::read_file(o.tls_key, 1 << 20);
    if (!key) return fail(key.error().with_context("--tls-key"));
    listen.tls_certificate_pem = *cert;
    listen.tls_private_key_pem = *key;
    if (listen.url.starts_with("http://")) listen.url.replace(0, 7, "https://");
  }
  if (!o.tls_client_ca.empty() && (o.tls_cert.empty() || o.front != "nginx")) {
    std::cerr << "flotilla-server: --tls-client-ca needs --tls-cert/--tls-key and the nginx front\n";
    return kExitUsage;
  }
  auto url = server::front::parse_listen_url(listen.url);
  if (!url) {
    std::cerr << "flotilla-server: " << url.error().message() << "\n";
    return kExitUsage;
  }
  return kExitOk;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "[::1]";
}

int run_serve(const ServeOptions& o) {
  const fs::path data = o.data;
  auto listen = o.listen;
  if (int rc = check_transport(o, listen); rc != kExitOk) return rc;
  bool debug = o.debug;
  if (debug) common::set_log_level(common::LogLevel::kDebug);
  const std::string location = store_location(data, o.store);
  if (!is_shared(location) && !fs::exists(location)) {
    std::cerr << "flotilla-server: " << data.string() << " is not a data directory; run `flotilla-server init --data "
              << data.string() << "` first\n";
    return kExitUsage;
  }
  if (!fs::is_directory(data)) {
    std::cerr << "flotilla-server: " << data.string() << " is not a directory; run `flotilla-server init --data "
              << data.string() << " --store URL` for a new database, or see docs/scale-out.md to add a server\n";
    return kExitUsage;
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto connections = o.store_connections > 0 ? o.store_connections : listen.threads + 2;
  auto store = server::SqlStore::open(location, common::now_utc, static_cast<std::size_t>(connections));
  if (!store) return fail(store.error());
  if (int rc = check_report_key(**store, data); rc != kExitOk) return rc;
  // `flotilla-server backup` asks this server for an online copy of its store.
  auto control = server::control::ControlSocket::start(
      data / server::control::kSocketName, [&store, &data](const std::string& request, const auto& reply) {
        if (request != "copy-store") return reply("error unknown request " + request.substr(0, 64));
        auto copy = server::backup::copy_store(**store, data, "local:backup",
                                               [&reply](const std::string&, std::int64_t done, std::int64_t total) {
                                                 reply("progress pages " + std::to_string(done) + " " + std::to_string(total));
                                               });
        common::log(copy ? common::LogLevel::kInfo : common::LogLevel::kError,
                    copy ? "copied the store for a backup into " + copy->string() : "a backup's copy failed: " + copy.error().describe());
        reply(copy ? "ok " + copy->string() : "error " + copy.error().describe());
      });
  if (!control && control.error().is(common::Errc::kConflict)) return fail(control.error());
  if (!control) common::log(common::LogLevel::kWarn, "no control socket, so `flotilla-server backup` cannot copy the store while this server runs: " + control.error().describe());
  server::api::ServerApp app(**store, data);
  if (!o.bundle_dir.empty()) {
    if (auto ok = app.set_bundle_dir(o.bundle_dir); !ok) return fail(ok.error().with_context("--bundle-dir"));
  }
  if (auto ok = app.set_bundle_base_url(o.bundle_base_url); !ok) {
    std::cerr << "flotilla-server: --bundle-base-url: " << ok.error().message() << "\n";
    return kExitUsage;
  }
  app.set_poll_interval(o.poll_interval_s);
  app.set_ddi_tenant(o.ddi_tenant);
  app.set_token_lifetime(std::chrono::days(o.token_lifetime_days));
  app.set_accel_redirect(o.accel_redirect);
  app.set_ui_enabled(!o.no_ui);
  server::Scheduler scheduler(**store, common::now_utc,
                              std::chrono::milliseconds(static_cast<std::int64_t>(o.scheduler_interval_s * 1000)));
  app.set_rollouts_changed([&scheduler] { scheduler.wake(); });
  app.set_scheduler_role([&scheduler] { return scheduler.running_rollouts(); });
  scheduler.start();
  // With the front, cpprest listens on a private loopback port; the
  // front owns --listen and TLS.
  const bool fronted = o.front == "nginx";
  auto public_listen = *server::front::parse_listen_url(listen.url);
  if (fronted) listen = {.url = "http://127.0.0.1:0", .threads = listen.threads};
  if (!fronted && !is_loopback_host(public_listen.host)) {
    common::log(common::LogLevel::kWarn, "--front none on " + public_listen.host + ": clients reach the server without the "
                "front's limits (slow or oversized requests, connection floods); run it behind a proxy of your own "
                "(docs/deploy-nginx.md)");
  }
  auto http = server::http::HttpServer::start(listen, app);
  if (!http) return fail(http.error());
  std::unique_ptr<server::front::Front> front;
  if (fronted) {
    std::string secret = server::api::new_token_secret();
    app.set_front_secret(secret);
    if (o.accel_redirect.empty()) app.set_accel_redirect(server::front::kBundleLocation);
    app.set_export_redirect(server::front::kExportLocation, std::chrono::seconds(o.export_grace_s));
    app.set_ddi_client_certificates(!o.tls_client_ca.empty());
    server::front::FrontOptions options{.listen = public_listen, .tls_cert = o.tls_cert, .tls_key = o.tls_key,
                                        .tls_client_ca = o.tls_client_ca,
                                        .bundle_dir = o.bundle_dir.empty() ? data / "bundles" : fs::path(o.bundle_dir),
                                        .export_dir = data / "exports",
                                        .prefix = data / "front"};
    auto upstream = server::front::parse_listen_url((*http)->url());
    auto started = server::front::Front::start(options, upstream ? upstream->port : 0, secret);
    if (!started) {
      (*http)->stop();
      scheduler.stop();
      return fail(started.error());
    }
    front = std::move(*started);
  }
  const std::string url = front ? front->url() : (*http)->url();
  app.set_public_url(o.public_url.empty() ? url : o.public_url);
  // First line of stdout: the URL, for scripts and tests.
  std::cout << url << std::endl;
  common::log(common::LogLevel::kInfo, "serving " + url + " from " + data.string() + " with the store " +
                                           server::sql::redacted(location) +
                                           (front ? " through its front (nginx, pid " + std::to_string(front->process().pid()) +
                                                        ") on the private upstream " + (*http)->url()
                                                  : std::string(" without a front")));
  if (!o.no_ui) common::log(common::LogLevel::kInfo, "dashboard at " + url + "/ui/");

  int received = 0;
  sigwait(&signals, &received);
  common::log(common::LogLevel::kInfo, std::string("stopping on ") + (received == SIGINT ? "SIGINT" : "SIGTERM"));
  if (front) front->stop();  // first: it finishes what it passes on, and accepts nothing new
  (*http)->stop();
  scheduler.stop();
  common::log(common::LogLevel::kInfo, "stopped");
  return kExitOk;
}

struct NginxConfigOptions {
  std::string data = "/var/lib/flotilla";
  std::string listen = "https://0.0.0.0:443";
  int upstream_port = 8080;
  std::string tls_cert, tls_key, tls_client_ca, bundle_dir;
};

// The front's configuration as `serve` would generate it, for a site that
// runs nginx itself (several servers, its own certificates): no secret,
// because the site's server runs with --front none.
int run_nginx_config(const NginxConfigOptions& o) {
  auto url = server::front::parse_listen_url(o.listen);
  if (!url) {
    std::cerr << "flotilla-server: " << url.error().message() << "\n";
    return kExitUsage;
  }
  if (url->port == 0) {
    std::cerr << "flotilla-server: --listen: a site's nginx needs a fixed port, not 0\n";
    return kExitUsage;
  }
  if (url->tls != !o.tls_cert.empty() || o.tls_cert.empty() != o.tls_key.empty()) {
    std::cerr << "flotilla-server: https:// in --listen goes with --tls-cert and --tls-key\n";
    return kExitUsage;
  }
  const fs::path data = o.data;
  server::front::FrontOptions options{.listen = *url, .tls_cert = o.tls_cert, .tls_key = o.tls_key,
                                      .tls_client_ca = o.tls_client_ca,
                                      .bundle_dir = o.bundle_dir.empty() ? data / "bundles" : fs::path(o.bundle_dir),
                                      .prefix = data / "front"};
  auto settings = server::front::front_settings(options, url->host, url->port, o.upstream_port);
  std::cout << "# For: flotilla-server serve --front none --listen http://127.0.0.1:" << o.upstream_port
            << " --accel-redirect " << server::front::kBundleLocation << " --public-url " << url->with_port(url->port)
            << " ...\n"
            << server::front::nginx_config(settings);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flotilla-server: the Flotilla update server.\nExit codes: 0 ok, 1 failure, 2 usage error.",
               "flotilla-server"};
  app.require_subcommand(1);
  std::string data, root, config_file;
  ServeOptions serve_options;

  std::string init_store;
  auto* init = app.add_subcommand("init", "Create a data directory and a database: report key, first admin token");
  init->add_option("--data", data, "Data directory (must not exist or be empty)")->required();
  init->add_option("--root", root, "Trust root (root.json) that uploaded bundles must verify against");
  init->add_option("--store", init_store,
                   "postgres://USER@HOST/DB: initialise that PostgreSQL database (once per fleet) instead of "
                   "DATA/flotilla.db (docs/scale-out.md)");

  auto* serve = app.add_subcommand("serve", "Serve the API until SIGTERM or SIGINT, then drain and exit 0");
  auto& so = serve_options;
  serve->add_option("--config", config_file, "JSON file with the same settings (data, listen, front, threads, public_url, "
                                             "tls_cert, tls_key, tls_client_ca, poll_interval, scheduler_interval, debug, ...); flags win")->check(CLI::ExistingFile);
  serve->add_option("--data", so.data, "Data directory made by init");
  serve->add_option("--store", so.store,
                    "postgres://USER@HOST/DB (libpq URI; keep the password in ~/.pgpass or PGPASSWORD): share one "
                    "PostgreSQL database with other servers (default: DATA/flotilla.db, SQLite)");
  serve->add_option("--store-connections", so.store_connections,
                    "PostgreSQL connections of this server (default: --threads + 2)")->check(CLI::Range(1, 256));
  serve->add_option("--bundle-dir", so.bundle_dir,
                    "Where bundle files live (default: DATA/bundles); servers sharing a database share this directory");
  serve->add_option("--bundle-base-url", so.bundle_base_url,
                    "Tell devices to download bundles from URL/<file_sha256>.flb (a mirror or CDN filled by `flotilla "
                    "bundles sync-mirror`), with this server as their fallback");
  serve->add_option("--listen", so.listen.url,
                    "http://HOST:PORT (or https:// with --tls-cert/--tls-key) where clients connect; port 0 picks a free "
                    "one. With the nginx front, the front listens here and the API on a private loopback port")
      ->capture_default_str();
  serve->add_option("--front", so.front,
                    "nginx (default): a supervised nginx in front enforces timeouts, size limits, connection caps and "
                    "rate limits and sends bundle files (docs/deploy-nginx.md); none: cpprest listens on --listen "
                    "itself, for a site's own proxy or load balancer")
      ->capture_default_str();
  serve->add_option("--threads", so.listen.threads, "Worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  serve->add_option("--public-url", so.public_url, "URL devices reach this server at (default: the listen URL)");
  serve->add_option("--accel-redirect", so.accel_redirect,
                    "With --front none behind a site's own nginx: let it send bundle files from this internal location "
                    "prefix, e.g. /_flotilla_bundles/ (docs/deploy-nginx.md; the default front does this by itself)");
  serve->add_option("--tls-cert", so.tls_cert, "PEM certificate chain: serve HTTPS")->check(CLI::ExistingFile);
  serve->add_option("--tls-key", so.tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  serve->add_option("--tls-client-ca", so.tls_client_ca,
                    "PEM CA certificates: the front asks clients for a certificate and refuses one that does not "
                    "verify against these (devices with certificates; nginx front only)")
      ->check(CLI::ExistingFile);
  serve->add_option("--ddi-tenant", so.ddi_tenant,
                    "Tenant of the hawkBit DDI routes, /TENANT/controller/v1/CONTROLLER_ID (docs/ddi.md)")
      ->check([](const std::string& t) { return artifacts::is_safe_name(t, 64) ? "" : "must match [A-Za-z0-9._-]{1,64}"; })
      ->capture_default_str();
  serve->add_option("--poll-interval", so.poll_interval_s, "Seconds between device polls")
      ->check(CLI::Range(5, 86400))->capture_default_str();
  serve->add_option("--token-lifetime-days", so.token_lifetime_days,
                    "Days an operator token created or rotated without an expiry stays valid (0: such tokens never "
                    "expire; an explicit \"expires_at\": null always means never)")
      ->check(CLI::Range(0, 3650))->capture_default_str();
  serve->add_option("--scheduler-interval", so.scheduler_interval_s,
                    "Seconds between rollout scheduler passes (operator actions also trigger one)")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  serve->add_option("--export-grace", so.export_grace_s,
                    "Seconds a compliance report or audit export sent by the front (nginx) stays in DATA/exports before "
                    "it is removed: nginx opens it at once, and a transfer under way outlives the removal")
      ->check(CLI::Range(1, 3600))->capture_default_str();
  serve->add_flag("--debug", so.debug, "Log every request");
  serve->add_flag("--no-ui", so.no_ui, "Do not serve the operator dashboard at /ui/ (docs/dashboard.md)");
  auto run_backup_command = server::backup::add_commands(app);
  NginxConfigOptions nginx_options;
  auto* nginx_config = app.add_subcommand(
      "nginx-config", "Print the nginx configuration `serve` generates for its front, as a starting point for a site "
                      "that runs nginx itself (docs/deploy-nginx.md)");
  nginx_config->add_option("--data", nginx_options.data, "The server's data directory")->capture_default_str();
  nginx_config->add_option("--listen", nginx_options.listen, "http(s)://HOST:PORT nginx listens on")->capture_default_str();
  nginx_config->add_option("--upstream-port", nginx_options.upstream_port, "The loopback port of `serve --front none`")
      ->check(CLI::Range(1, 65535))->capture_default_str();
  nginx_config->add_option("--tls-cert", nginx_options.tls_cert, "PEM certificate chain (https://)");
  nginx_config->add_option("--tls-key", nginx_options.tls_key, "PEM private key of --tls-cert");
  nginx_config->add_option("--tls-client-ca", nginx_options.tls_client_ca, "PEM CA certificates of device certificates");
  nginx_config->add_option("--bundle-dir", nginx_options.bundle_dir, "Where bundle files live (default: DATA/bundles)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (*init) return run_init(data, root, init_store);
  if (*nginx_config) return run_nginx_config(nginx_options);
  if (int rc = run_backup_command(); rc >= 0) return rc;
  if (!config_file.empty()) {
    if (int rc = apply_config(config_file, *serve, serve_options); rc != kExitOk) return rc;
  }
  if (serve_options.data.empty()) {
    std::cerr << "flotilla-server: serve needs --data (or \"data\" in --config)\n";
    return kExitUsage;
  }
  return run_serve(serve_options);
}
