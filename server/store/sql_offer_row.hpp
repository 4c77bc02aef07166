// The columns of a device's offer (its active deployment row, the
// deployment and its bundle) and how a row of them reads: shared by the
// poll's one-statement lookup and take_offer. Internal to the store.
#pragma once

#include <string_view>

#include "server/store/sql.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

// Aliases: dd = deployment_devices, dep = deployments, b = bundles.
inline constexpr std::string_view kOfferColumns =
    "dd.state, dep.id, dep.bundle, dep.component, dep.allow_downgrade, dep.deadline, dep.created_by, dep.created_at, "
    "dep.rollout_id, b.file_sha256, b.bundle_id, b.name, b.kind, b.component, b.version, b.security_version, b.size, "
    "b.uploaded_at, b.uploaded_by";
inline constexpr int kOfferColumnCount = 19;

// The row's offer columns from `first` on; nullopt when the device has no
// active deployment (a LEFT JOIN's NULLs).
std::optional<Offer> offer_from_row(const sql::Statement& row, int first);

}  // namespace flotilla::server
