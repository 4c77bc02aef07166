// The server's HTTP application: routing, authentication, and the
// operator API (tokens, bundles, audit, trust). Transport-agnostic: it
// sees plain http::Request/Response.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/time.hpp"
#include "server/api/auth.hpp"
#include "server/http/types.hpp"
#include "server/store/store.hpp"
#include "signing/root.hpp"

namespace flotilla::server::api {

inline constexpr std::uint64_t kMaxBundleBytes = std::uint64_t{16} << 30;
inline constexpr std::uint64_t kMaxJsonBodyBytes = 1 << 20;

class ServerApp final : public http::Application {
 public:
  using Clock = std::function<common::TimePoint()>;
  // `data_dir` holds bundles/ and uploads/. Removes upload leftovers of a
  // previous run (an upload cut by a crash is never visible).
  ServerApp(Store& store, std::filesystem::path data_dir, Clock clock = common::now_utc);

  http::BodyPolicy body_policy(const std::string& method, const std::string& path) const override;
  http::Response handle(http::Request& request) override;
  std::filesystem::path upload_dir() const override { return data_dir_ / "uploads"; }

 private:
  struct Caller {
    std::string actor;  // "operator:<name>#<id>"
    Role role = Role::kAuditor;
  };
  using Params = std::vector<std::string>;
  using Handler = http::Response (ServerApp::*)(http::Request&, const Params&, const Caller&);
  struct Route {
    std::string method;
    std::vector<std::string> pattern;  // "{}" matches one segment
    std::optional<Permission> permission;  // nullopt: public
    Handler handler;
  };

  std::expected<Caller, http::Response> authenticate(const http::Request& request);
  // The current trust root, or nullptr when none was configured.
  std::shared_ptr<const signing::TrustRoot> trust_root();

  http::Response health(http::Request&, const Params&, const Caller&);
  http::Response create_token(http::Request&, const Params&, const Caller&);
  http::Response list_tokens(http::Request&, const Params&, const Caller&);
  http::Response revoke_token(http::Request&, const Params&, const Caller&);
  http::Response upload_bundle(http::Request&, const Params&, const Caller&);
  http::Response list_bundles(http::Request&, const Params&, const Caller&);
  http::Response show_bundle(http::Request&, const Params&, const Caller&);
  http::Response delete_bundle(http::Request&, const Params&, const Caller&);
  http::Response download_bundle(http::Request&, const Params&, const Caller&);
  http::Response list_audit(http::Request&, const Params&, const Caller&);
  http::Response verify_audit(http::Request&, const Params&, const Caller&);
  http::Response export_audit(http::Request&, const Params&, const Caller&);
  http::Response show_trust(http::Request&, const Params&, const Caller&);
  http::Response upload_trust(http::Request&, const Params&, const Caller&);

  std::filesystem::path bundle_path(const std::string& file_sha256) const;

  Store& store_;
  std::filesystem::path data_dir_;
  Clock clock_;
  std::vector<Route> routes_;
  std::mutex root_mutex_;
  std::shared_ptr<const signing::TrustRoot> root_;
};

// Settings keys shared with `flotilla-server init`.
inline constexpr const char* kTrustRootSetting = "trust_root";

}  // namespace flotilla::server::api
