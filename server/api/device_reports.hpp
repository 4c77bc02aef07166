// The signed reports a device sends (DESIGN.md §5, §6): an inventory
// report's and a deployment event's fields, checked one by one. Shared by
// a device's own routes and a gateway's routes for its children
// (docs/gateway.md): the same body either way, signed by whoever speaks.
#pragma once

#include <expected>

#include "common/json.hpp"
#include "server/http/types.hpp"
#include "server/store/store.hpp"

namespace flotilla::server::api {

// The fields of an inventory report (counter, timestamp, components,
// booted_slot, agent_version, utc_offset, tamper, health) of a parsed
// body whose keys the caller checked; the report keeps the exact bytes
// and the X-Flotilla-Signature header.
std::expected<InventoryReport, http::Response> inventory_report_of(const http::Request& request,
                                                                   const common::JsonObject& body, const common::Json& doc);

// A device's identity: at most 16 string attributes of at most 256 bytes
// under plain names (and at least one unless `may_be_empty`).
std::optional<http::Response> check_identity(const common::JsonObject& identity, bool may_be_empty);

// A deployment event's body: {seq, state, progress, message, time, running_version}.
std::expected<DeploymentEvent, http::Response> deployment_event_of(const http::Request& request);

}  // namespace flotilla::server::api
