// The tamper-evident audit chain (DESIGN.md §9). An entry is the JSON
// object {seq, time, actor, action, object, outcome, details, prev_hash};
// its hash is hex SHA-256 of prev_hash (64 ASCII hex digits) followed by
// the entry's RFC 8785 canonical form. The first entry's prev_hash is 64
// zeros. An export is JSON Lines, one entry with its "hash" per line.
//
// Shared by the server (which appends) and the CLI (which verifies
// exports offline, with no server).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.hpp"

namespace flotilla::signing {

inline const std::string kGenesisHash(64, '0');

struct AuditEntry {
  std::int64_t seq = 0;
  std::string time;      // RFC 3339
  std::string actor;     // "operator:<token name>", "device:<id>", "system:scheduler", ...
  std::string action;    // "bundle.upload", "device.accept", ...
  std::string object;    // what it acted on, e.g. "bundle:<id>"
  std::string outcome;   // "ok", "denied", "failed", ...
  common::Json details = common::Json::object();
  std::string prev_hash;
  std::string hash;      // filled by seal()
};

// The entry as JSON, without "hash" (what is hashed).
common::Json audit_entry_json(const AuditEntry& entry);
// Computes entry.hash from its fields. Fails on details holding floats.
common::Status seal(AuditEntry& entry);
// One JSON Lines record: the entry with its "hash".
std::string audit_line(const AuditEntry& entry);

struct ChainHead {
  std::int64_t seq = 0;
  std::string hash = kGenesisHash;
};

// Checks an export line by line: each line parses as an entry, its seq is
// one more than the previous, its prev_hash is the previous hash, and its
// hash is right. The first failure names the line and the entry.
class AuditChainVerifier {
 public:
  common::Status add_line(std::string_view line);
  const ChainHead& head() const { return head_; }
  std::int64_t lines() const { return lines_; }

 private:
  ChainHead head_;
  std::int64_t lines_ = 0;
};

}  // namespace flotilla::signing
