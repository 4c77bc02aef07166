// The server's storage interface. Handlers talk only to this, so a
// PostgreSQL implementation can follow without touching them (DESIGN.md
// §10). Every mutating call takes the audit entry describing it and writes
// both in one transaction: an acknowledged action always has its entry.
//
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "signing/audit_chain.hpp"

namespace flotilla::server {

// What the caller knows of an audit entry; the store assigns seq, time
// link and hash.
struct AuditDraft {
  std::string actor;
  std::string action;
  std::string object;
  std::string outcome = "ok";
  common::Json details = common::Json::object();
};

struct TokenRecord {
  std::int64_t id = 0;
  std::string name;
  std::string role;
  std::string created_at;
  std::optional<std::string> expires_at;
  bool revoked = false;
};

struct BundleRecord {
  std::string file_sha256;     // digest of the whole .flb: its key
  std::string bundle_id;       // digest of the manifest payload
  std::string name, kind, component, version;
  std::int64_t security_version = 0;
  std::int64_t size = 0;
  std::string manifest_json;   // the verified manifest, as parsed
  std::string signer_keyids_json;
  std::string uploaded_at;
  std::string uploaded_by;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual common::Result<std::int64_t> create_token(const TokenRecord& token, const std::string& token_hash,
                                                    const AuditDraft& audit) = 0;
  // A token by the SHA-256 of its secret; revoked ones are returned marked.
  virtual common::Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) = 0;
  virtual common::Result<std::vector<TokenRecord>> list_tokens() = 0;
  // kNotFound if there is no such token.
  virtual common::Status revoke_token(std::int64_t id, const AuditDraft& audit) = 0;

  // False (and no audit entry) when a bundle with that file digest exists.
  virtual common::Result<bool> insert_bundle(const BundleRecord& bundle, const AuditDraft& audit) = 0;
  virtual common::Result<std::vector<BundleRecord>> list_bundles() = 0;
  // By file digest or bundle id.
  virtual common::Result<std::optional<BundleRecord>> find_bundle(const std::string& key) = 0;
  // kNotFound, or kConflict while a deployment uses it.
  virtual common::Status delete_bundle(const std::string& file_sha256, const AuditDraft& audit) = 0;

  virtual common::Result<signing::AuditEntry> append_audit(const AuditDraft& audit) = 0;
  // Entries with seq > after_seq, oldest first, at most `limit`.
  virtual common::Result<std::vector<signing::AuditEntry>> list_audit(std::int64_t after_seq,
                                                                      std::int64_t limit) = 0;

  virtual common::Result<std::optional<std::string>> setting(const std::string& key) = 0;
  virtual common::Status set_setting(const std::string& key, const std::string& value,
                                     const AuditDraft& audit) = 0;
};

}  // namespace flotilla::server
