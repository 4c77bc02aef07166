// The server database's schema in SQLite. Kept in step with
// schema_postgres.cpp: migration N creates the same tables and columns in
// both (tests/server/schema_test.cpp compares them).
#include "server/store/schema.hpp"

#include <array>

namespace flotilla::server {
namespace {

constexpr std::array<std::string_view, 8> kMigrations = {
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
    // 2: devices, enrollment, device tokens, nonces, deployments, inventory.
    R"sql(
CREATE TABLE enrollment_tokens (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  token_hash    TEXT NOT NULL UNIQUE,
  device_types  TEXT NOT NULL,          -- JSON array
  max_uses      INTEGER NOT NULL,
  uses          INTEGER NOT NULL DEFAULT 0,
  expires_at    TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE devices (
  key              INTEGER PRIMARY KEY,   -- stable internal number (device_seen)
  id               TEXT NOT NULL UNIQUE,  -- key id of the device key
  device_type      TEXT NOT NULL,
  identity         TEXT NOT NULL,         -- JSON object
  public_key       TEXT NOT NULL,         -- PEM
  status           TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected', 'decommissioned')),
  labels           TEXT NOT NULL DEFAULT '{}',
  created_at       TEXT NOT NULL,
  report_counter   INTEGER NOT NULL DEFAULT 0,
  inventory        TEXT,                  -- the last signed report's body, verbatim
  inventory_sig    TEXT,
  inventory_digest TEXT,
  inventory_at     TEXT,
  tampered         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_type ON devices (device_type, status);
-- last_seen lives apart in narrow rows keyed by devices.key: polls update
-- it constantly, and small rows keep those writes to a few pages.
CREATE TABLE device_seen (
  device     INTEGER PRIMARY KEY,   -- devices.key
  last_seen  INTEGER NOT NULL       -- Unix seconds
);
-- The poll's first lookup: one B-tree descent on a 32-byte key yields the
-- device and the expiry.
CREATE TABLE device_tokens (
  token_hash  BLOB PRIMARY KEY,      -- SHA-256 of the bearer token
  device      INTEGER NOT NULL REFERENCES devices (key),
  expires_at  INTEGER NOT NULL       -- Unix seconds
) WITHOUT ROWID;
CREATE INDEX device_tokens_by_device ON device_tokens (device);
CREATE TABLE device_nonces (
  nonce      TEXT PRIMARY KEY,
  seen_at    TEXT NOT NULL
);
CREATE TABLE deployments (
  id               INTEGER PRIMARY KEY,
  bundle           TEXT NOT NULL REFERENCES bundles (file_sha256),
  component        TEXT NOT NULL,
  allow_downgrade  INTEGER NOT NULL DEFAULT 0,
  deadline         TEXT,
  created_by       TEXT NOT NULL,
  created_at       TEXT NOT NULL
);
CREATE TABLE deployment_devices (
  deployment_id  INTEGER NOT NULL REFERENCES deployments (id),
  device_id      TEXT NOT NULL REFERENCES devices (id),
  component      TEXT NOT NULL,
  state          TEXT NOT NULL,
  active         INTEGER NOT NULL DEFAULT 1,   -- 0 once in a final state
  last_seq       INTEGER NOT NULL DEFAULT 0,
  progress       INTEGER NOT NULL DEFAULT 0,
  message        TEXT NOT NULL DEFAULT '',
  running_version TEXT,
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
-- One deployment per device and component at a time (DESIGN.md §7).
CREATE UNIQUE INDEX one_active_deployment ON deployment_devices (device_id, component) WHERE active = 1;
CREATE INDEX deployment_devices_by_device ON deployment_devices (device_id, active);
CREATE TABLE deployment_events (
  deployment_id  INTEGER NOT NULL,
  device_id      TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  state          TEXT NOT NULL,
  progress       INTEGER NOT NULL,
  message        TEXT NOT NULL,
  time           TEXT NOT NULL,
  body           TEXT NOT NULL,          -- the signed body, verbatim
  signature      TEXT NOT NULL,
  received_at    TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id, seq)
);
)sql",
    // 3: rollouts (DESIGN.md §7): the policy as accepted, the scheduler's
    // persisted decisions (wave assignments, wave completions, approvals),
    // and each device's component versions from its last inventory.
    R"sql(
CREATE TABLE rollouts (
  id                 INTEGER PRIMARY KEY,
  name               TEXT NOT NULL,
  policy             TEXT NOT NULL,          -- the document as accepted, verbatim
  bundle             TEXT NOT NULL REFERENCES bundles (file_sha256),
  rollback_bundle    TEXT REFERENCES bundles (file_sha256),
  deployment_id      INTEGER NOT NULL REFERENCES deployments (id),
  rollback_deployment_id INTEGER REFERENCES deployments (id),
  state              TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'paused', 'completed', 'aborted')),
  reason             TEXT NOT NULL DEFAULT '',
  status             TEXT NOT NULL DEFAULT '{}',  -- the scheduler's last evaluation, for show
  acknowledged_failed   INTEGER NOT NULL DEFAULT 0,  -- failures seen by the operator who resumed
  acknowledged_finished INTEGER NOT NULL DEFAULT 0,
  created_by         TEXT NOT NULL,
  created_at         TEXT NOT NULL,
  updated_at         TEXT NOT NULL
);
CREATE INDEX rollouts_by_state ON rollouts (state);
CREATE TABLE rollout_waves (
  rollout_id    INTEGER NOT NULL REFERENCES rollouts (id),
  wave          INTEGER NOT NULL,
  completed_at  INTEGER,                     -- Unix seconds
  approved_by   TEXT,
  approved_at   TEXT,
  PRIMARY KEY (rollout_id, wave)
);
-- A device's wave, fixed the first time the scheduler placed it.
CREATE TABLE rollout_devices (
  rollout_id  INTEGER NOT NULL,
  device_id   TEXT NOT NULL,
  wave        INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;
CREATE TABLE device_components (
  device            INTEGER NOT NULL REFERENCES devices (key),
  component         TEXT NOT NULL,
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL,
  PRIMARY KEY (device, component)
) WITHOUT ROWID;
ALTER TABLE deployments ADD COLUMN rollout_id INTEGER;
ALTER TABLE deployment_devices ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deployment_devices ADD COLUMN started_at INTEGER;   -- Unix seconds of the current attempt's offer
ALTER TABLE devices ADD COLUMN utc_offset TEXT;
)sql",
    // 4: compliance baselines (DESIGN.md §9), the documents as accepted.
    R"sql(
CREATE TABLE baselines (
  name        TEXT PRIMARY KEY,
  document    TEXT NOT NULL,
  updated_by  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
)sql",
    // 5: several live tokens per device; the newest are kept (issue order).
    R"sql(
ALTER TABLE device_tokens ADD COLUMN issued INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6: attempts cut short (power, network) counted apart from failures.
    R"sql(
ALTER TABLE deployment_devices ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: devices served over hawkBit's DDI (docs/ddi.md): no device key,
    // a target token; the attributes they send as configData.
    R"sql(
ALTER TABLE devices ADD COLUMN protocol TEXT NOT NULL DEFAULT 'flotilla';
ALTER TABLE devices ADD COLUMN attributes TEXT;
)sql",
    // 8: field gateways (docs/gateway.md): a child device's gateway and
    // the id its adapter gives it; whether a device may enroll children;
    // children whose gateway was decommissioned (never re-parented
    // silently: an operator moves them).
    R"sql(
ALTER TABLE devices ADD COLUMN parent TEXT;
ALTER TABLE devices ADD COLUMN child_id TEXT;
ALTER TABLE devices ADD COLUMN gateway INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN orphaned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE enrollment_tokens ADD COLUMN gateway INTEGER NOT NULL DEFAULT 0;
CREATE INDEX devices_by_parent ON devices (parent);
)sql",
};

}  // namespace

std::span<const std::string_view> sqlite_migrations() { return kMigrations; }

}  // namespace flotilla::server
