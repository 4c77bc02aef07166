// Every entry of the audit log in order, a page at a time (the log of a
// large fleet does not fit in memory), and the chain's verification.
#pragma once

#include <functional>

#include "server/store/store.hpp"

namespace flotilla::server {

common::Status for_each_audit_entry(Store& store, const std::function<common::Status(const signing::AuditEntry&)>& each);

// The chain from its first entry to its head, each link checked; fails
// with signing::Errc::kAuditChainBroken at the first entry that does not
// follow from the one before it.
common::Result<signing::AuditChainVerifier> verify_audit_chain(Store& store);

}  // namespace flotilla::server
