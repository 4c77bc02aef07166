#include "signing/audit_chain.hpp"

#include "common/canonical_json.hpp"
#include "signing/digest.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

using common::Json;

Json audit_entry_json(const AuditEntry& entry) {
  return {{"seq", entry.seq},       {"time", entry.time},       {"actor", entry.actor},
          {"action", entry.action}, {"object", entry.object},   {"outcome", entry.outcome},
          {"details", entry.details}, {"prev_hash", entry.prev_hash}};
}

common::Status seal(AuditEntry& entry) {
  auto canonical = common::canonical_json(audit_entry_json(entry));
  if (!canonical) return std::unexpected(canonical.error());
  Sha256 hasher;
  hasher.update(entry.prev_hash);
  hasher.update(*canonical);
  entry.hash = hasher.finish_hex();
  return {};
}

std::string audit_line(const AuditEntry& entry) {
  Json line = audit_entry_json(entry);
  line["hash"] = entry.hash;
  return line.dump();
}

common::Status AuditChainVerifier::add_line(std::string_view line) {
  ++lines_;
  auto broken = [&](const std::string& why) {
    return common::fail(Errc::kAuditChainBroken,
                        "line " + std::to_string(lines_) + " (expected seq " +
                            std::to_string(head_.seq + 1) + "): " + why);
  };
  auto doc = common::parse_json_strict(line, {.max_bytes = 1 << 20, .max_depth = 16});
  if (!doc) return broken(doc.error().message());
  auto object = common::JsonObject::of(*doc, "");
  if (!object) return broken(object.error().message());
  if (auto ok = object->only_keys({"seq", "time", "actor", "action", "object", "outcome", "details",
                                   "prev_hash", "hash"});
      !ok) {
    return broken(ok.error().message());
  }
  AuditEntry entry;
  auto seq = object->integer("seq", 1, std::int64_t{1} << 62);
  if (!seq) return broken(seq.error().message());
  entry.seq = *seq;
  for (auto [key, field] : {std::pair{"time", &entry.time}, std::pair{"actor", &entry.actor},
                            std::pair{"action", &entry.action}, std::pair{"object", &entry.object},
                            std::pair{"outcome", &entry.outcome}, std::pair{"prev_hash", &entry.prev_hash}}) {
    auto value = object->string(key, 65536);
    if (!value) return broken(value.error().message());
    *field = *value;
  }
  auto claimed = object->string("hash", 64);
  if (!claimed) return broken(claimed.error().message());
  if (!doc->contains("details")) return broken("/details: is required");
  entry.details = (*doc)["details"];

  if (entry.seq != head_.seq + 1) {
    return broken("seq is " + std::to_string(entry.seq) + ": an entry is missing, repeated or out of order");
  }
  if (entry.prev_hash != head_.hash) return broken("prev_hash does not link to the entry before it");
  if (auto ok = seal(entry); !ok) return broken(ok.error().message());
  if (entry.hash != *claimed) return broken("hash does not match the entry's content (it was altered)");
  head_ = {entry.seq, entry.hash};
  return {};
}

}  // namespace flotilla::signing
