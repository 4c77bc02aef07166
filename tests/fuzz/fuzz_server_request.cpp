// Fuzz target: the server's request handling, in process (no transport):
// the first byte picks a route, the rest is the body (or the path or
// query). Authenticated as admin, so the handlers behind the role checks
// are reached.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "server/api/app.hpp"
#include "server/api/auth.hpp"
#include "server/ddi/ddi.hpp"
#include "server/store/sql_store.hpp"
#include "signing/key.hpp"

namespace {

using namespace flotilla;

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<server::SqlStore> store;
  std::unique_ptr<server::api::ServerApp> app;
  std::string admin = "flt_fuzz_admin";

  Fixture() {
    char pattern[] = "/tmp/flotilla-fuzz-XXXXXX";
    dir = ::mkdtemp(pattern);
    store = std::move(*server::SqlStore::open((dir / "flotilla.db").string()));
    server::TokenRecord token{.name = "fuzz", .role = "admin", .created_at = "2026-01-01T00:00:00Z"};
    (void)store->create_token(token, server::api::token_hash(admin), {"fuzz", "token.create", "token:fuzz"});
    // A report key, as `flotilla-server init` makes: signed reports are
    // exercised too, and their absence (a documented 503) is not mistaken
    // for a handler failing on input.
    auto key = signing::PrivateKey::generate(signing::Algorithm::kEcdsaP256);
    if (!key || !common::write_file_exclusive(dir / "report.key", key->to_pem(), 0600)) std::abort();
    // A device served over DDI: the DDI routes are reached past their
    // target-token check.
    server::DeviceRecord ddi{.id = server::ddi::device_id_for("fuzz"), .device_type = "sw-x1",
                             .identity_json = R"({"controller_id":"fuzz"})"};
    if (!store->create_ddi_device(ddi, std::optional<std::string>(server::api::token_hash(ddi_token)), "2026-01-01T00:00:00Z", {"fuzz", "device.create", "device:x"})) {
      std::abort();
    }
    // A field gateway with a child (docs/gateway.md): the children's
    // routes are reached past their signature check, each input signed.
    gateway_key = std::make_unique<signing::PrivateKey>(*signing::PrivateKey::generate(signing::Algorithm::kEd25519));
    server::DeviceRecord gateway{.id = gateway_key->key_id(), .device_type = "gw-x1", .identity_json = R"({"serial":"gw"})",
                                 .public_key = gateway_key->public_key().to_pem()};
    if (!store->enroll_device(gateway, std::nullopt, "fuzz-nonce-0123456789", "2026-01-01T00:00:00Z", "2025-12-31T00:00:00Z",
                              {"fuzz", "device.enroll", "device:gw"}) ||
        !store->set_device_status(gateway.id, "accepted", {"fuzz", "device.accept", "device:gw"}) ||
        !store->set_device_gateway(gateway.id, true, {"fuzz", "device.gateway", "device:gw"}) ||
        !store->issue_device_token(gateway.id, server::api::token_hash(gateway_token), "2099-01-01T00:00:00Z")) {
      std::abort();
    }
    server::DeviceRecord child{.id = std::string(64, 'c'), .device_type = "mcu-a", .identity_json = "{}",
                               .parent = gateway.id, .child_id = "m-1"};
    if (!store->enroll_child(child, "2026-01-01T00:00:00Z", {"fuzz", "device.enroll", "device:child"})) std::abort();
    app = std::make_unique<server::api::ServerApp>(*store, dir);
  }
  std::string ddi_token = "ddi_fuzz";
  std::string gateway_token = "dev_fuzz_gateway";
  std::unique_ptr<signing::PrivateKey> gateway_key;
};

struct Route {
  const char* method;
  const char* path;  // empty: the input is the path
  bool ddi = false;      // authenticated with the DDI device's target token
  bool gateway = false;  // the gateway's bearer token, the body signed by its key
};

constexpr Route kRoutes[] = {
    {"POST", "/api/v1/tokens"},        {"POST", "/api/v1/enrollment-tokens"},
    {"PUT", "/api/v1/devices/x/labels"}, {"POST", "/api/v1/deployments"},
    {"PUT", "/api/v1/trust"},          {"POST", "/api/v1/device/auth"},
    {"POST", "/api/v1/device/poll"},   {"GET", ""},
    {"DELETE", ""},                    {"GET", "/api/v1/devices"},
    {"GET", "/api/v1/audit"},          {"POST", "/api/v1/rollouts/dry-run"},
    {"POST", "/api/v1/rollouts"},      {"POST", "/api/v1/rollouts/1/approve"},
    {"POST", "/api/v1/rollouts/1/abort"}, {"GET", "/api/v1/compliance"},
    {"GET", "/api/v1/compliance/summary"},
    {"POST", "/default/controller/v1/fuzz/deploymentBase/1/feedback", true},
    {"PUT", "/default/controller/v1/fuzz/configData", true},
    {"GET", "", true},
    {"HEAD", "", true},
    {"PUT", "/api/v1/device/children/inventory", false, true},
    {"POST", "/api/v1/device/children/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc/deployments/1/events", false, true},
    {"POST", "/api/v1/device/poll", false, true},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size == 0) return 0;
  const Route& route = kRoutes[data[0] % std::size(kRoutes)];
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  server::http::Request request;
  request.method = route.method;
  request.headers["Authorization"] = route.ddi ? "TargetToken " + fixture.ddi_token : "Bearer " + fixture.admin;
  if (route.path[0] == '\0') {
    request.path = "/" + input;
  } else {
    request.path = route.path;
    if (request.method == "GET") {
      // The input as query parameters: key=value pairs split on '&'.
      std::size_t start = 0;
      while (start <= input.size()) {
        auto end = input.find('&', start);
        auto pair = input.substr(start, end == std::string::npos ? std::string::npos : end - start);
        auto eq = pair.find('=');
        request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        if (end == std::string::npos) break;
        start = end + 1;
      }
    } else {
      request.body = input;
      request.body_size = input.size();
      request.headers["X-Flotilla-Key-Id"] = std::string(64, 'a');
      request.headers["X-Flotilla-Signature"] = "AAAA";
      if (route.gateway) {
        request.headers["Authorization"] = "Bearer " + fixture.gateway_token;
        request.headers["X-Flotilla-Key-Id"] = fixture.gateway_key->key_id();
        auto signature = fixture.gateway_key->sign(common::as_bytes(input));
        if (signature) request.headers["X-Flotilla-Signature"] = common::to_base64(*signature);
      }
    }
  }
  auto response = fixture.app->handle(request);
  // Every answer is a well-formed status; 5xx means a handler failed on input.
  if (response.status < 200 || response.status >= 500) std::abort();
  // Exports are files the transport would remove once sent.
  if (response.file && response.file->remove_when_sent) std::filesystem::remove(response.file->path);
  // Anything else left in exports/ is litter a client could pile up.
  std::error_code ec;
  if (std::filesystem::exists(fixture.dir / "exports", ec) && !std::filesystem::is_empty(fixture.dir / "exports", ec)) std::abort();
  return 0;
}
