// A device speaking the device API by hand, for server tests: signs its
// requests with its own key, as DESIGN.md §5 describes.
#pragma once

#include <string>

#include "cli/api_client.hpp"
#include "common/time.hpp"
#include "signing/key.hpp"

namespace flotilla::testing {

class TestDevice {
 public:
  TestDevice(std::string server_url, std::string device_type, std::string serial,
             signing::Algorithm algorithm = signing::Algorithm::kEd25519);

  // POST device/auth; keeps the bearer token when accepted.
  cli::ApiResponse auth(const std::optional<std::string>& enrollment_token = std::nullopt);
  // The body auth() would send, and the headers signing it.
  std::string auth_body(const std::optional<std::string>& enrollment_token, const std::string& timestamp,
                        const std::string& nonce) const;
  std::vector<std::string> signed_headers(const std::string& body, const signing::PrivateKey* key = nullptr) const;

  cli::ApiResponse poll(const std::string& digest = "");
  cli::ApiResponse inventory(std::int64_t counter, const std::string& version, std::int64_t security_version,
                             bool tamper_ok = true);
  // The body is a function of its arguments (its time is the device's
  // creation plus seq seconds): sending the same event again is a resend.
  cli::ApiResponse event(std::int64_t deployment, std::int64_t seq, const std::string& state,
                         const std::string& running_version = "");
  cli::ApiResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::vector<std::string>& headers = {});

  // Talks to a server that restarted elsewhere; auth() again afterwards.
  void reconnect(std::string server_url) { client_ = cli::ApiClient(std::move(server_url), std::nullopt); }

  const std::string& id() const { return key_.key_id(); }
  const signing::PrivateKey& key() const { return key_; }
  cli::ApiClient& client() { return client_; }

 private:
  signing::PrivateKey key_;
  std::string type_;
  std::string serial_;
  cli::ApiClient client_;
  common::TimePoint created_ = common::now_utc();
};

}  // namespace flotilla::testing
