#include "server/store/audit_walk.hpp"

namespace flotilla::server {

namespace {
constexpr std::int64_t kAuditPage = 1000;
}

common::Status for_each_audit_entry(Store& store, const std::function<common::Status(const signing::AuditEntry&)>& each) {
  std::int64_t after = 0;
  for (;;) {
    auto page = store.list_audit(after, kAuditPage);
    if (!page) return std::unexpected(page.error());
    if (page->empty()) return {};
    for (const auto& e : *page) {
      if (auto ok = each(e); !ok) return ok;
      after = e.seq;
    }
  }
}

common::Result<signing::AuditChainVerifier> verify_audit_chain(Store& store) {
  signing::AuditChainVerifier verifier;
  auto walked = for_each_audit_entry(store, [&](const signing::AuditEntry& e) { return verifier.add_line(signing::audit_line(e)); });
  if (!walked) return std::unexpected(walked.error());
  return verifier;
}

}  // namespace flotilla::server
