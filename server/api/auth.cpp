#include "server/api/auth.hpp"

#include "common/encoding.hpp"
#include "signing/digest.hpp"

namespace flotilla::server::api {

std::optional<Role> parse_role(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "operator") return Role::kOperator;
  if (name == "publisher") return Role::kPublisher;
  if (name == "auditor") return Role::kAuditor;
  return std::nullopt;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kOperator: return "operator";
    case Role::kPublisher: return "publisher";
    case Role::kAuditor: return "auditor";
  }
  return "";
}

bool allowed(Role role, Permission permission) {
  if (role == Role::kAdmin) return true;
  switch (permission) {
    case Permission::kManageTokens:
    case Permission::kManageTrust: return false;
    case Permission::kUploadBundles: return role == Role::kOperator || role == Role::kPublisher;
    case Permission::kReadBundles: return role == Role::kOperator || role == Role::kAuditor;
    case Permission::kManageBundles: return role == Role::kOperator;
    case Permission::kReadAudit: return role == Role::kOperator || role == Role::kAuditor;
    case Permission::kReadTrust: return true;
    case Permission::kReadDevices:
    case Permission::kReadDeployments: return role == Role::kOperator || role == Role::kAuditor;
    case Permission::kManageDevices:
    case Permission::kManageDeployments: return role == Role::kOperator;
  }
  return false;
}

std::string_view permission_name(Permission permission) {
  switch (permission) {
    case Permission::kManageTokens: return "manage_tokens";
    case Permission::kUploadBundles: return "upload_bundles";
    case Permission::kReadBundles: return "read_bundles";
    case Permission::kManageBundles: return "manage_bundles";
    case Permission::kReadAudit: return "read_audit";
    case Permission::kManageTrust: return "manage_trust";
    case Permission::kReadTrust: return "read_trust";
    case Permission::kReadDevices: return "read_devices";
    case Permission::kManageDevices: return "manage_devices";
    case Permission::kReadDeployments: return "read_deployments";
    case Permission::kManageDeployments: return "manage_deployments";
  }
  return "";
}

std::string new_token_secret() { return "flt_" + common::to_hex(signing::random_bytes(32)); }

std::string token_hash(std::string_view secret) { return signing::sha256_hex(secret); }

}  // namespace flotilla::server::api
