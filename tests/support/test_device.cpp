#include "tests/support/test_device.hpp"

#include <stdexcept>

#include "common/encoding.hpp"
#include "common/time.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::testing {

TestDevice::TestDevice(std::string server_url, std::string device_type, std::string serial, signing::Algorithm algorithm)
    : key_(make_key(algorithm)), type_(std::move(device_type)), serial_(std::move(serial)), client_(std::move(server_url), std::nullopt) {}

std::string TestDevice::auth_body(const std::optional<std::string>& enrollment_token, const std::string& timestamp,
                                  const std::string& nonce) const {
  common::Json body = {{"device_type", type_}, {"identity", {{"serial", serial_}}}, {"public_key", key_.public_key().to_pem()},
                       {"timestamp", timestamp}, {"nonce", nonce}};
  if (enrollment_token) body["enrollment_token"] = *enrollment_token;
  return body.dump();
}

std::vector<std::string> TestDevice::signed_headers(const std::string& body, const signing::PrivateKey* key) const {
  const auto& signer = key ? *key : key_;
  auto sig = signer.sign(common::as_bytes(body));
  if (!sig) throw std::runtime_error(sig.error().describe());
  return {"X-Flotilla-Key-Id: " + key_.key_id(), "X-Flotilla-Signature: " + common::to_base64(*sig)};
}

cli::ApiResponse TestDevice::request(const std::string& method, const std::string& path, const std::string& body,
                                     const std::vector<std::string>& headers) {
  auto response = client_.request(method, path, body, headers);
  if (!response) throw std::runtime_error(response.error().describe());
  return *response;
}

cli::ApiResponse TestDevice::auth(const std::optional<std::string>& enrollment_token) {
  std::string body = auth_body(enrollment_token, common::format_rfc3339(common::now_utc()),
                               common::to_hex(signing::random_bytes(16)));
  client_.set_token(std::nullopt);
  auto response = request("POST", "/api/v1/device/auth", body, signed_headers(body));
  if (response.status == 200) client_.set_token(response.json()["token"].get<std::string>());
  return response;
}

cli::ApiResponse TestDevice::poll(const std::string& digest) {
  common::Json body = common::Json::object();
  if (!digest.empty()) body["inventory_digest"] = digest;
  return request("POST", "/api/v1/device/poll", body.dump());
}

cli::ApiResponse TestDevice::inventory(std::int64_t counter, const std::string& version, std::int64_t security_version,
                                       bool tamper_ok) {
  common::Json body = {{"counter", counter},
                       {"timestamp", common::format_rfc3339(common::now_utc())},
                       {"components", {{"rootfs", {{"version", version}, {"security_version", security_version}}}}},
                       {"booted_slot", "a"},
                       {"agent_version", "0.1.0"},
                       {"utc_offset", "+01:00"},
                       {"tamper", {{"secure-boot", {{"ok", tamper_ok}, {"detail", tamper_ok ? "enabled" : "disabled"}}}}}};
  std::string text = body.dump();
  return request("PUT", "/api/v1/device/inventory", text, signed_headers(text));
}

cli::ApiResponse TestDevice::event(std::int64_t deployment, std::int64_t seq, const std::string& state,
                                   const std::string& running_version) {
  common::Json body = {{"seq", seq}, {"state", state}, {"progress", 100}, {"message", "test"},
                       {"time", common::format_rfc3339(created_ + std::chrono::seconds(seq))}};
  if (!running_version.empty()) body["running_version"] = running_version;
  std::string text = body.dump();
  return request("POST", "/api/v1/device/deployments/" + std::to_string(deployment) + "/events", text, signed_headers(text));
}

}  // namespace flotilla::testing
