#include "server/store/schema.hpp"

#include <array>

namespace flotilla::server {
namespace {

constexpr std::array<std::string_view, 1> kMigrations = {
    // 1: settings, operator tokens, bundles, the audit chain.
    R"sql(
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE tokens (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'publisher', 'auditor')),
  token_hash  TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL,
  expires_at  TEXT,
  revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE bundles (
  file_sha256       TEXT PRIMARY KEY,
  bundle_id         TEXT NOT NULL,
  name              TEXT NOT NULL,
  kind              TEXT NOT NULL,
  component         TEXT NOT NULL,
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL,
  size              INTEGER NOT NULL,
  manifest_json     TEXT NOT NULL,
  signer_keyids     TEXT NOT NULL,
  uploaded_at       TEXT NOT NULL,
  uploaded_by       TEXT NOT NULL
);
CREATE INDEX bundles_by_id ON bundles (bundle_id);
CREATE INDEX bundles_by_name ON bundles (name, version);
CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,
  time       TEXT NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  object     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  details    TEXT NOT NULL,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
);
-- Append-only: the chain makes edits detectable; the triggers make them
-- fail in the first place for anyone going through SQLite.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql",
};

}  // namespace

std::span<const std::string_view> server_migrations() { return kMigrations; }

}  // namespace flotilla::server
