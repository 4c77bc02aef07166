// Operator authentication: bearer API tokens with a role (DESIGN.md §5).
// Tokens are random 256-bit secrets shown once; the server keeps only
// their SHA-256.
#pragma once

#include <optional>
#include <string>

namespace flotilla::server::api {

enum class Role { kAdmin, kOperator, kPublisher, kAuditor };

std::optional<Role> parse_role(std::string_view name);
std::string_view role_name(Role role);

// What a route needs. The role table is in docs/api.md.
enum class Permission {
  kManageTokens,    // admin
  kUploadBundles,   // admin, operator, publisher
  kReadBundles,     // admin, operator, auditor
  kManageBundles,   // admin, operator (delete)
  kReadAudit,       // admin, operator, auditor
  kManageTrust,     // admin
  kReadTrust,       // every role
  kReadDevices,     // admin, operator, auditor
  kManageDevices,   // admin, operator (accept, reject, labels, decommission, enrollment tokens)
  kReadDeployments, // admin, operator, auditor
  kManageDeployments,  // admin, operator
};

bool allowed(Role role, Permission permission);

// Every permission, and its name in GET /api/v1/me ("manage_deployments").
inline constexpr Permission kAllPermissions[] = {
    Permission::kManageTokens,  Permission::kUploadBundles,    Permission::kReadBundles,
    Permission::kManageBundles, Permission::kReadAudit,        Permission::kManageTrust,
    Permission::kReadTrust,     Permission::kReadDevices,      Permission::kManageDevices,
    Permission::kReadDeployments, Permission::kManageDeployments};
std::string_view permission_name(Permission permission);

// "flt_" + 64 hex digits.
std::string new_token_secret();
std::string token_hash(std::string_view secret);

}  // namespace flotilla::server::api
