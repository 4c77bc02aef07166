// Upgrades keep the fleet: a database of every earlier schema version, made
// by the migrations of that version and filled with what a server of that
// version wrote, is migrated by the current program with every row intact
// and usable; a database newer than the program is refused untouched. On
// SQLite and on PostgreSQL (label postgres).
#include <gtest/gtest.h>

#include "common/encoding.hpp"
#include "server/store/audit_walk.hpp"
#include "server/store/schema.hpp"
#include "server/store/sql_store.hpp"
#include "signing/audit_chain.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/postgres.hpp"

namespace flotilla::server {
namespace {

const std::string kBundle(64, 'a');
const std::string kOperatorSecret = "fixture-operator-secret";
const std::string kDeviceSecret = "fixture-device-token";

// What a server of schema version N wrote into the tables migration N
// made, with only the columns they had then (later migrations add columns
// with defaults). Identity columns are left to the database, as the
// server leaves them. One entry per migration: a new migration needs its
// fixture here (the test says so).
using Seed = std::function<common::Status(sql::Connection&)>;

common::Status run(sql::Connection& db, const std::string& statement,
                   const std::function<void(sql::Statement&)>& bind = {}) {
  auto prepared = db.prepare(statement);
  if (!prepared) return std::unexpected(prepared.error().with_context(statement));
  if (bind) bind(*prepared);
  if (auto ok = prepared->run(); !ok) return std::unexpected(ok.error().with_context(statement));
  return {};
}

common::Status seed_all(sql::Connection& db, const std::vector<std::string>& statements) {
  for (const auto& statement : statements) {
    if (auto ok = run(db, statement); !ok) return ok;
  }
  return {};
}

// Two audit entries, chained and sealed as the server seals them.
common::Status seed_audit(sql::Connection& db) {
  std::string prev = signing::kGenesisHash;
  for (std::int64_t seq = 1; seq <= 2; ++seq) {
    signing::AuditEntry entry{.seq = seq, .time = "2026-01-01T00:00:0" + std::to_string(seq) + "Z", .actor = "operator:ops",
                              .action = seq == 1 ? "token.create" : "bundle.upload", .object = "fixture",
                              .outcome = "ok", .details = {{"n", seq}}, .prev_hash = prev};
    if (auto ok = signing::seal(entry); !ok) return ok;
    auto inserted = run(db,
                        "INSERT INTO audit_log (seq, time, actor, action, object, outcome, details, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [&](sql::Statement& s) {
                          s.bind(1, entry.seq).bind(2, entry.time).bind(3, entry.actor).bind(4, entry.action)
                              .bind(5, entry.object).bind(6, entry.outcome).bind(7, entry.details.dump())
                              .bind(8, entry.prev_hash).bind(9, entry.hash);
                        });
    if (!inserted) return inserted;
    prev = entry.hash;
  }
  return {};
}

common::Status seed_device_token(sql::Connection& db, const std::string& secret, const std::string& extra_column) {
  auto hash = common::from_hex(signing::sha256_hex(secret));
  if (!hash) return std::unexpected(hash.error());
  return run(db,
             "INSERT INTO device_tokens (token_hash, device, expires_at" + std::string(extra_column.empty() ? "" : ", issued") +
                 ") SELECT ?, key, 4102444800" + (extra_column.empty() ? "" : ", " + extra_column) +
                 " FROM devices WHERE id = 'dev-1'",
             [&](sql::Statement& s) { s.bind_blob(1, *hash); });
}

const std::vector<Seed>& seeds() {
  static const std::vector<Seed> all = {
      // 1: settings, operator tokens, bundles, the audit chain.
      [](sql::Connection& db) {
        if (auto ok = seed_all(db, {
                "INSERT INTO settings (key, value) VALUES ('report_key_id', 'fixture-key')",
                "INSERT INTO tokens (name, role, token_hash, created_at) VALUES ('ops', 'admin', '" +
                    signing::sha256_hex(kOperatorSecret) + "', '2026-01-01T00:00:00Z')",
                "INSERT INTO bundles (file_sha256, bundle_id, name, kind, component, version, security_version, size, "
                "manifest_json, signer_keyids, uploaded_at, uploaded_by) VALUES ('" + kBundle + "', 'bid', 'gw-os', 'os', "
                "'rootfs', '2.4.0', 7, 1000, '{}', '[]', '2026-01-01T00:00:00Z', 'operator:ops')"});
            !ok) {
          return ok;
        }
        return seed_audit(db);
      },
      // 2: devices, enrollment, device tokens, nonces, deployments.
      [](sql::Connection& db) {
        if (auto ok = seed_all(db, {
                "INSERT INTO enrollment_tokens (name, token_hash, device_types, max_uses, uses, expires_at, created_at) "
                "VALUES ('line-1', 'e-hash', '[\"gw-x1\"]', 10, 1, '2099-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, report_counter) "
                "VALUES ('dev-1', 'gw-x1', '{\"serial\":\"S1\"}', 'pem', 'accepted', '{\"region\":\"eu\"}', "
                "'2026-01-01T00:00:00Z', 3)",
                "INSERT INTO device_seen (device, last_seen) SELECT key, 1767225600 FROM devices WHERE id = 'dev-1'",
                "INSERT INTO device_nonces (nonce, seen_at) VALUES ('n-1', '2026-01-01T00:00:00Z')",
                "INSERT INTO deployments (bundle, component, created_by, created_at) "
                "VALUES ('" + kBundle + "', 'rootfs', 'fixture', '2026-01-01T00:00:00Z')",
                "INSERT INTO deployment_devices (deployment_id, device_id, component, state, updated_at) "
                "SELECT id, 'dev-1', 'rootfs', 'pending', '2026-01-01T00:00:00Z' FROM deployments WHERE created_by = 'fixture'",
                "INSERT INTO deployment_events (deployment_id, device_id, seq, state, progress, message, time, body, "
                "signature, received_at) SELECT id, 'dev-1', 1, 'downloading', 10, 'fetching', '2026-01-01T00:00:00Z', "
                "'{}', 'sig', '2026-01-01T00:00:01Z' FROM deployments WHERE created_by = 'fixture'"});
            !ok) {
          return ok;
        }
        return seed_device_token(db, kDeviceSecret, "");
      },
      // 3: rollouts, their waves and devices, component versions.
      [](sql::Connection& db) {
        return seed_all(db, {
            // Rollout ids are MAX + 1, given by the server (no identity column).
            "INSERT INTO rollouts (id, name, policy, bundle, deployment_id, state, created_by, created_at, updated_at) "
            "SELECT 1, 'fixture-rollout', '{\"name\":\"fixture-rollout\"}', '" + kBundle + "', id, 'running', "
            "'operator:ops', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM deployments WHERE created_by = 'fixture'",
            "UPDATE deployments SET rollout_id = (SELECT id FROM rollouts WHERE name = 'fixture-rollout')",
            "INSERT INTO rollout_waves (rollout_id, wave, completed_at) SELECT id, 0, 1767225600 FROM rollouts",
            "INSERT INTO rollout_devices (rollout_id, device_id, wave) SELECT id, 'dev-1', 0 FROM rollouts",
            "INSERT INTO device_components (device, component, version, security_version) "
            "SELECT key, 'rootfs', '2.3.0', 1 FROM devices WHERE id = 'dev-1'"});
      },
      // 4: compliance baselines.
      [](sql::Connection& db) {
        return seed_all(db, {"INSERT INTO baselines (name, document, updated_by, updated_at) VALUES "
                             "('2026-Q4', '{\"name\":\"2026-Q4\"}', 'operator:ops', '2026-01-01T00:00:00Z')"});
      },
      // 5: several live tokens per device, numbered by issue.
      [](sql::Connection& db) { return seed_device_token(db, kDeviceSecret + "-2", "2"); },
      // 6: interruptions counted apart from failures.
      [](sql::Connection& db) {
        return seed_all(db, {"UPDATE deployment_devices SET interruptions = 2 WHERE device_id = 'dev-1'"});
      },
      // 7: devices served over DDI, their configData.
      [](sql::Connection& db) {
        return seed_all(db, {"INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, protocol, attributes) "
                             "VALUES ('ddi-1', 'gw-x1', '{\"controller_id\":\"c-1\"}', '', 'accepted', '{}', "
                             "'2026-01-01T00:00:00Z', 'ddi', '{\"hw\":\"rev2\"}')"});
      },
      // 8: gateways and their children.
      [](sql::Connection& db) {
        return seed_all(db, {"UPDATE devices SET gateway = 1 WHERE id = 'dev-1'",
                             "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, protocol, "
                             "parent, child_id) VALUES ('child-1', 'mcu-a', '{\"serial\":\"m-1\"}', '', 'accepted', '{}', "
                             "'2026-01-01T00:00:00Z', 'child', 'dev-1', 'm-1')"});
      },
  };
  return all;
}

class MigrationTest : public ::testing::TestWithParam<sql::Engine> {
 protected:
  testing::TempDir dir;
  std::vector<std::unique_ptr<testing::PostgresDatabase>> databases;

  // A fresh, empty database of this engine.
  std::string new_location(std::size_t n) {
    if (GetParam() == sql::Engine::kPostgres) {
      databases.push_back(std::make_unique<testing::PostgresDatabase>());
      return databases.back()->url();
    }
    return (dir / ("v" + std::to_string(n) + ".db")).string();
  }
  static common::Result<std::unique_ptr<sql::Connection>> connect(const std::string& location) {
    return sql::engine_of(location) == sql::Engine::kPostgres ? sql::open_postgres(location) : sql::open_sqlite(location);
  }
  static std::int64_t schema_version(sql::Connection& db) {
    auto select = db.prepare(db.engine() == sql::Engine::kPostgres ? "SELECT MAX(version) FROM flotilla_schema"
                                                                    : "PRAGMA user_version");
    EXPECT_TRUE(select);
    auto row = select->step();
    EXPECT_TRUE(row && *row);
    return select->int64(0);
  }
};

TEST_P(MigrationTest, EveryEarlierSchemaVersionIsMigratedWithItsDataIntact) {
  if (GetParam() == sql::Engine::kPostgres) FLOTILLA_REQUIRE_POSTGRES();
  const std::size_t current = GetParam() == sql::Engine::kPostgres ? postgres_migrations().size() : sqlite_migrations().size();
  ASSERT_EQ(seeds().size(), current) << "migration " << current << " has no fixture in this test: add what a server of that "
                                     << "version writes to seeds()";
  const auto now = *common::parse_rfc3339("2026-12-01T00:00:00Z");
  for (std::size_t version = 1; version < current; ++version) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    const auto location = new_location(version);
    {
      auto db = connect(location);
      ASSERT_TRUE(db) << db.error().describe();
      ASSERT_TRUE(migrate_to(**db, version));
      ASSERT_EQ(schema_version(**db), static_cast<std::int64_t>(version));
      for (std::size_t i = 0; i < version; ++i) {
        auto seeded = seeds()[i](**db);
        ASSERT_TRUE(seeded) << "fixture " << i + 1 << ": " << seeded.error().describe();
      }
    }

    // The upgrade: the current program opens it, as `serve` does.
    auto opened = SqlStore::open(location, [&] { return now; });
    ASSERT_TRUE(opened) << opened.error().describe();
    auto& store = **opened;
    EXPECT_EQ(*store.setting("report_key_id"), "fixture-key");
    auto token = store.find_token(signing::sha256_hex(kOperatorSecret));
    ASSERT_TRUE(token && *token);
    EXPECT_EQ((*token)->name, "ops");
    EXPECT_EQ((*token)->role, "admin");
    auto bundle = store.find_bundle(kBundle);
    ASSERT_TRUE(bundle && *bundle);
    EXPECT_EQ((*bundle)->version, "2.4.0");
    EXPECT_EQ((*bundle)->security_version, 7);
    auto chain = verify_audit_chain(store);
    ASSERT_TRUE(chain) << chain.error().describe();
    // The chain goes on from the old head.
    auto appended = store.append_audit({"system:test", "store.upgrade", "fixture"});
    ASSERT_TRUE(appended) << appended.error().describe();
    EXPECT_EQ(appended->seq, 3);
    ASSERT_TRUE(verify_audit_chain(store));

    if (version >= 2) {
      auto device = store.find_device("dev-1");
      ASSERT_TRUE(device && *device);
      EXPECT_EQ((*device)->status, "accepted");
      EXPECT_EQ((*device)->labels_json, R"({"region":"eu"})");
      EXPECT_EQ((*device)->report_counter, 3);
      // The device keeps working with the token it had before the upgrade.
      auto by_token = store.find_device_by_token(signing::sha256_hex(kDeviceSecret), common::format_rfc3339(now));
      ASSERT_TRUE(by_token && *by_token) << "the device's token no longer works";
      EXPECT_EQ((*by_token)->id, "dev-1");
      auto deployments = store.device_deployments("dev-1");
      ASSERT_TRUE(deployments);
      ASSERT_EQ(deployments->size(), 1u);
      EXPECT_EQ(deployments->front().state, "pending");
      EXPECT_EQ(deployments->front().interruptions, version >= 6 ? 2 : 0);
      auto events = store.deployment_events(deployments->front().deployment_id, "dev-1");
      ASSERT_TRUE(events);
      ASSERT_EQ(events->size(), 1u);
      EXPECT_EQ(events->front().message, "fetching");
      // New rows get their own numbers next to the old ones.
      DeviceRecord fresh{.id = "dev-2", .device_type = "gw-x1", .identity_json = "{}", .public_key = "pem"};
      auto enrolled = store.enroll_device(fresh, std::nullopt, "n-2", "2026-12-01T00:00:00Z", "2026-11-30T23:50:00Z",
                                          {"device:dev-2", "device.enroll", "device:dev-2"});
      ASSERT_TRUE(enrolled) << enrolled.error().describe();
      EXPECT_NE(enrolled->key, (*device)->key);
    }
    if (version >= 3) {
      auto rollouts = store.list_rollouts({}, 10);
      ASSERT_TRUE(rollouts);
      ASSERT_EQ(rollouts->size(), 1u);
      EXPECT_EQ(rollouts->front().name, "fixture-rollout");
      EXPECT_EQ(rollouts->front().state, RolloutState::kRunning);
      auto waves = store.rollout_waves(rollouts->front().id);
      ASSERT_TRUE(waves);
      EXPECT_EQ(waves->size(), 1u);
    }
    if (version >= 4) {
      auto baseline = store.find_baseline("2026-Q4");
      ASSERT_TRUE(baseline && *baseline);
      EXPECT_EQ((*baseline)->document, R"({"name":"2026-Q4"})");
    }
    if (version >= 2) {
      auto native = store.find_device("dev-1");
      ASSERT_TRUE(native && *native);
      EXPECT_EQ((*native)->protocol, "flotilla") << "devices from before DDI speak the native protocol";
    }
    if (version >= 7) {
      auto ddi = store.find_device("ddi-1");
      ASSERT_TRUE(ddi && *ddi);
      EXPECT_EQ((*ddi)->protocol, "ddi");
      EXPECT_EQ((*ddi)->attributes.value_or(""), R"({"hw":"rev2"})");
    }
    if (version >= 8) {
      auto child = store.find_device("child-1");
      ASSERT_TRUE(child && *child);
      EXPECT_EQ((*child)->parent.value_or(""), "dev-1");
      EXPECT_EQ((*child)->child_id.value_or(""), "m-1");
      auto gateway = store.find_device("dev-1");
      ASSERT_TRUE(gateway && *gateway);
      EXPECT_TRUE((*gateway)->gateway);
    } else if (version >= 2) {
      auto native = store.find_device("dev-1");
      ASSERT_TRUE(native && *native);
      EXPECT_FALSE((*native)->gateway) << "devices from before gateways enroll no children";
    }
    if (version >= 5) {
      auto second = store.find_device_by_token(signing::sha256_hex(kDeviceSecret + "-2"), common::format_rfc3339(now));
      ASSERT_TRUE(second && *second);
    }
    opened->reset();
    auto db = connect(location);
    ASSERT_TRUE(db);
    EXPECT_EQ(schema_version(**db), static_cast<std::int64_t>(current));
  }
}

TEST_P(MigrationTest, ADatabaseNewerThanTheProgramIsRefusedUntouched) {
  if (GetParam() == sql::Engine::kPostgres) FLOTILLA_REQUIRE_POSTGRES();
  const auto location = new_location(0);
  const std::size_t current = GetParam() == sql::Engine::kPostgres ? postgres_migrations().size() : sqlite_migrations().size();
  {
    auto db = connect(location);
    ASSERT_TRUE(db);
    ASSERT_TRUE(migrate(**db));
    ASSERT_TRUE((*db)->exec(GetParam() == sql::Engine::kPostgres
                                ? "INSERT INTO flotilla_schema (version) VALUES (" + std::to_string(current + 1) + ")"
                                : "PRAGMA user_version = " + std::to_string(current + 1)));
  }
  auto opened = SqlStore::open(location);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().describe().find("newer than this program"), std::string::npos) << opened.error().describe();
  auto db = connect(location);
  ASSERT_TRUE(db);
  EXPECT_EQ(schema_version(**db), static_cast<std::int64_t>(current + 1));
}

std::string engine_name(const ::testing::TestParamInfo<sql::Engine>& info) {
  return info.param == sql::Engine::kPostgres ? "postgres" : "sqlite";
}

INSTANTIATE_TEST_SUITE_P(Engines, MigrationTest, ::testing::Values(sql::Engine::kSqlite, sql::Engine::kPostgres), engine_name);

}  // namespace
}  // namespace flotilla::server
