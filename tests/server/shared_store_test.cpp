// Several servers on one PostgreSQL store (DESIGN.md §10): each test opens
// two or more SqlStores on one database, as two flotilla-server processes
// would, and checks what must hold between them: one scheduler at a time
// (taken over when its holder goes), one audit chain under concurrent
// writers, offers fetched through one server never withdrawn by another,
// writes on one server seen by the other's scheduler, the schema migrated
// once and kept in step with SQLite's.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "server/errors.hpp"
#include "server/store/schema.hpp"
#include "server/store/sql_store.hpp"
#include "signing/audit_chain.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/postgres.hpp"

namespace flotilla::server {
namespace {

class SharedStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::PostgresDatabase> database;

  void SetUp() override {
    FLOTILLA_REQUIRE_POSTGRES();
    database = std::make_unique<testing::PostgresDatabase>();
  }

  std::unique_ptr<SqlStore> open_server() {
    auto store = SqlStore::open(database->url());
    EXPECT_TRUE(store) << store.error().describe();
    return store ? std::move(*store) : nullptr;
  }

  static std::string at(int seconds) {
    return common::format_rfc3339(common::now_utc() + std::chrono::seconds(seconds));
  }

  static void enroll(Store& store, const std::string& id) {
    DeviceRecord d{.id = id, .device_type = "gw-x1", .identity_json = "{}", .public_key = "pem"};
    auto stored = store.enroll_device(d, std::nullopt, "nonce-" + id, at(0), at(-600), {"device:" + id, "device.enroll", id});
    ASSERT_TRUE(stored) << stored.error().describe();
    ASSERT_TRUE(store.set_device_status(id, "accepted", {"t", "device.accept", id}));
  }

  // A running rollout of a fresh bundle; returns its record.
  static RolloutRecord rollout(Store& store) {
    BundleRecord b{.file_sha256 = "b1", .bundle_id = "i1", .name = "gw-os", .kind = "os", .component = "rootfs",
                   .version = "2.4.0", .manifest_json = "{}", .signer_keyids_json = "[]", .uploaded_at = at(0),
                   .uploaded_by = "t"};
    EXPECT_TRUE(store.insert_bundle(b, {"t", "bundle.upload", "bundle:b1"}));
    RolloutRecord r{.name = "r", .policy_json = "{}", .bundle = "b1", .state = RolloutState::kRunning, .created_by = "t",
                    .created_at = at(0), .updated_at = at(0)};
    DeploymentRecord d{.bundle = "b1", .component = "rootfs", .created_by = "t", .created_at = at(0)};
    auto id = store.create_rollout(r, d, {"t", "rollout.create", "rollout"});
    EXPECT_TRUE(id) << id.error().describe();
    return **store.find_rollout(*id);
  }

  static RolloutPass offer_pass(const RolloutRecord& r, std::vector<std::string> devices) {
    RolloutPass pass{.rollout_id = r.id, .expected_state = RolloutState::kRunning, .now = 1000, .offers = std::move(devices),
                     .status_json = "{}"};
    for (const auto& d : pass.offers) pass.placed.emplace_back(d, 0);
    return pass;
  }
};

TEST_F(SharedStoreTest, OneServerHoldsTheSchedulerLeaseAndAnotherTakesItWhenItGoes) {
  auto first = open_server();
  auto second = open_server();
  ASSERT_TRUE(*first->hold_scheduler_lease());
  EXPECT_TRUE(*first->hold_scheduler_lease());  // still held, not taken twice
  EXPECT_FALSE(*second->hold_scheduler_lease());

  enroll(*first, "d1");
  auto r = rollout(*first);
  // A pass computed by a server without the lease is refused, whole.
  auto refused = second->apply_rollout_pass(offer_pass(r, {"d1"}));
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(Errc::kNotScheduler)) << refused.error().describe();
  EXPECT_TRUE(second->deployment_devices(r.deployment_id)->empty());

  first.reset();  // the holder goes (its connections close, as when a server dies)
  bool taken = false;
  for (int i = 0; i < 50 && !taken; ++i) {
    taken = *second->hold_scheduler_lease();
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(taken) << "the lease was not released when its holder went";
  ASSERT_TRUE(second->apply_rollout_pass(offer_pass(r, {"d1"})));
  EXPECT_EQ(second->deployment_devices(r.deployment_id)->size(), 1u);
}

TEST_F(SharedStoreTest, ConcurrentWritersOnTwoServersKeepOneAuditChain) {
  auto first = open_server();
  auto second = open_server();
  constexpr int kThreads = 4, kEach = 40;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      Store& store = t % 2 == 0 ? *first : *second;
      for (int i = 0; i < kEach; ++i) {
        std::string id = "dev-" + std::to_string(t) + "-" + std::to_string(i);
        DeviceRecord d{.id = id, .device_type = "gw-x1", .identity_json = "{}", .public_key = "pem"};
        EXPECT_TRUE(store.enroll_device(d, std::nullopt, "n-" + id, at(0), at(-600), {"device:" + id, "device.enroll", id}));
        EXPECT_TRUE(store.append_audit({"t" + std::to_string(t), "test.write", id}));
      }
    });
  }
  for (auto& w : writers) w.join();
  auto entries = *first->list_audit(0, 10000);
  ASSERT_EQ(entries.size(), static_cast<std::size_t>(2 * kThreads * kEach));
  signing::AuditChainVerifier verifier;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].seq, static_cast<std::int64_t>(i + 1));
    ASSERT_TRUE(verifier.add_line(signing::audit_line(entries[i]))) << "chain broken at " << entries[i].seq;
  }
  EXPECT_EQ(second->audit_head()->hash, entries.back().hash);
  EXPECT_EQ(second->list_devices({.limit = 1000})->size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST_F(SharedStoreTest, AnOfferFetchedThroughOneServerIsNeverWithdrawnByAnother) {
  auto first = open_server();
  auto second = open_server();
  enroll(*first, "d1");
  enroll(*first, "d2");
  auto r = rollout(*first);
  ASSERT_TRUE(*first->hold_scheduler_lease());
  ASSERT_TRUE(first->apply_rollout_pass(offer_pass(r, {"d1", "d2"})));
  // d1 polls the second server; the first server (no batch in between)
  // sees it offered at once.
  auto offer = *second->take_offer("d1", at(1));
  ASSERT_TRUE(offer);
  EXPECT_EQ(offer->state, "offered");
  ASSERT_TRUE(first->transition_rollout({.rollout_id = r.id, .event = RolloutEvent::kPause, .reason = "p",
                                         .withdraw_unfetched = true},
                                        {"t", "rollout.pause", "rollout"}));
  auto rows = *second->deployment_devices(r.deployment_id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].device_id, "d1");
  EXPECT_FALSE(*first->take_offer("d2", at(2)));  // withdrawn: nothing to fetch
  // The fetch is audited once, by the server that answered it.
  int fetched = 0;
  auto entries = *first->list_audit(0, 1000);
  for (const auto& e : entries) fetched += e.action == "deployment.offered";
  EXPECT_EQ(fetched, 1);
}

TEST_F(SharedStoreTest, WritesOnOneServerReachTheOtherServersScheduler) {
  auto first = open_server();
  auto second = open_server();
  auto before = second->change_generation();
  ASSERT_GE(before, 0);
  enroll(*first, "d1");
  auto after = second->change_generation();
  EXPECT_GT(after, before);
  ASSERT_TRUE(first->record_inventory("d1", {1, "{}", "s", "digest", false}, at(0)));
  EXPECT_GT(second->change_generation(), after);
}

TEST_F(SharedStoreTest, ServersStartingTogetherMigrateOnceAndANewerSchemaIsRefused) {
  std::vector<std::unique_ptr<SqlStore>> stores(4);
  std::vector<std::thread> starting;
  for (auto& store : stores) starting.emplace_back([&] { store = open_server(); });
  for (auto& t : starting) t.join();
  for (const auto& store : stores) ASSERT_TRUE(store);
  EXPECT_EQ(database->query("SELECT count(*), max(version) FROM flotilla_schema"),
            std::to_string(postgres_migrations().size()) + "|" + std::to_string(postgres_migrations().size()) + "\n");
  stores.clear();
  database->query("INSERT INTO flotilla_schema (version) VALUES (99)");
  auto newer = SqlStore::open(database->url());
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().describe().find("newer than this program"), std::string::npos) << newer.error().describe();
}

TEST_F(SharedStoreTest, TheAuditLogRefusesChangesInTheDatabaseItself) {
  auto store = open_server();
  ASSERT_TRUE(store->append_audit({"a", "x", "o"}));
  for (const char* sql : {"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"}) {
    EXPECT_THROW(database->query(sql), std::runtime_error) << sql;
  }
  EXPECT_EQ(store->list_audit(0, 10)->at(0).actor, "a");
}

// No server keeps tokens in memory: a device decommissioned or rejected
// through one server is refused by the other at its next request, by the
// poll's one-statement read as by the plain token lookup.
TEST_F(SharedStoreTest, ADeviceRevokedThroughOneServerIsRefusedByTheOtherAtOnce) {
  auto first = open_server(), second = open_server();
  auto hash = [](const char* id) { return signing::sha256_hex("token-" + std::string(id)); };
  for (const char* id : {"d1", "d2"}) {
    enroll(*first, id);
    ASSERT_TRUE(first->issue_device_token(id, hash(id), at(600)));
  }
  ASSERT_TRUE(*second->find_device_and_offer(hash("d1"), at(0)));
  ASSERT_TRUE(*second->find_device_by_token(hash("d2"), at(0)));
  ASSERT_TRUE(first->set_device_status("d1", "decommissioned", {"t", "device.decommission", "d1"}));
  ASSERT_TRUE(first->set_device_status("d2", "rejected", {"t", "device.reject", "d2"}));
  EXPECT_FALSE(*second->find_device_and_offer(hash("d1"), at(0)));
  EXPECT_FALSE(*second->find_device_by_token(hash("d1"), at(0)));
  EXPECT_FALSE(*second->find_device_and_offer(hash("d2"), at(0)));
  EXPECT_FALSE(*second->find_device_by_token(hash("d2"), at(0)));
}

// A first big rollout turns an empty deployment_devices into a large one,
// and every server's poll statement was planned for the empty table: a
// bulk offer is analysed at once, so those plans are made again
// (docs/scale-out.md); a small one is left to autovacuum.
TEST_F(SharedStoreTest, ABulkOfferRefreshesTheStatisticsThePollIsPlannedFrom) {
  auto store = open_server();
  database->query(
      "INSERT INTO devices (id, device_type, identity, public_key, status, created_at) "
      "SELECT 'bulk-' || n, 'gw-x1', '{}', 'pem', 'accepted', 't' FROM generate_series(1, 1200) AS n");
  BundleRecord b{.file_sha256 = "b1", .bundle_id = "i1", .name = "gw-os", .kind = "os", .component = "rootfs",
                 .version = "2.4.0", .manifest_json = "{}", .signer_keyids_json = "[]", .uploaded_at = at(0),
                 .uploaded_by = "t"};
  ASSERT_TRUE(store->insert_bundle(b, {"t", "bundle.upload", "bundle:b1"}));
  auto analysed = [&] {
    auto count = database->query("SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'deployment_devices' AND last_analyze IS NOT NULL");
    return count.substr(0, count.find('\n'));
  };
  DeploymentRecord d{.bundle = "b1", .component = "rootfs", .created_by = "t", .created_at = at(0)};
  ASSERT_TRUE(store->create_deployment(d, {"bulk-1", "bulk-2"}, {"t", "deployment.create", "x"}));
  EXPECT_EQ(analysed(), "0");
  std::vector<std::string> many;
  for (int n = 3; n <= 1200; ++n) many.push_back("bulk-" + std::to_string(n));
  ASSERT_TRUE(store->create_deployment(d, many, {"t", "deployment.create", "x"}));
  EXPECT_EQ(analysed(), "1");
}

// A database outage as the store sees it: every call fails as
// kUnavailable (answered 503, retried by clients), nothing half written,
// and the first call after it reconnects.
TEST_F(SharedStoreTest, AnOutageIsUnavailableNotAFailureAndTheStoreReconnectsWhenItEnds) {
  auto store = open_server();
  ASSERT_TRUE(*store->hold_scheduler_lease());
  enroll(*store, "d1");
  auto audited = store->list_audit(0, 100)->size();

  database->set_reachable(false);
  auto during = store->count_devices_by_status();
  ASSERT_FALSE(during);
  EXPECT_TRUE(during.error().is(common::Errc::kUnavailable)) << during.error().describe();
  auto write = store->set_device_status("d1", "rejected", {"t", "device.reject", "d1"});
  ASSERT_FALSE(write);
  EXPECT_TRUE(write.error().is(common::Errc::kUnavailable)) << write.error().describe();
  EXPECT_FALSE(store->hold_scheduler_lease().value_or(false));  // its session, and the lease, are gone

  database->set_reachable(true);
  auto after = store->count_devices_by_status();
  ASSERT_TRUE(after) << after.error().describe();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0], std::make_pair(std::string("accepted"), std::int64_t{1}));  // the refused write left nothing
  EXPECT_TRUE(store->hold_scheduler_lease().value_or(false));
  EXPECT_EQ(store->list_audit(0, 100)->size(), audited);
}

// The numbered migrations are kept in step: after all of them, both
// engines have the same tables with the same columns.
TEST_F(SharedStoreTest, BothEnginesHaveTheSameTablesAndColumns) {
  testing::TempDir dir;
  auto sqlite = sql::open_sqlite((dir / "flotilla.db").string());
  ASSERT_TRUE(sqlite);
  ASSERT_TRUE(migrate(**sqlite));
  auto postgres = sql::open_postgres(database->url());
  ASSERT_TRUE(postgres) << postgres.error().describe();
  ASSERT_TRUE(migrate(**postgres));
  EXPECT_EQ(sqlite_migrations().size(), postgres_migrations().size());

  auto columns = [](sql::Connection& db, const std::string& query) {
    std::set<std::string> out;
    auto select = db.prepare(query);
    EXPECT_TRUE(select) << select.error().describe();
    EXPECT_TRUE(common::for_each_row(*select, [&](const sql::Statement& row) { out.insert(row.text(0) + "." + row.text(1)); }));
    return out;
  };
  auto in_sqlite = columns(**sqlite,
                           "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p "
                           "WHERE m.type = 'table'");
  auto in_postgres = columns(**postgres,
                             "SELECT table_name, column_name FROM information_schema.columns "
                             "WHERE table_schema = current_schema() AND table_name != 'flotilla_schema'");
  EXPECT_GT(in_sqlite.size(), 80u);
  EXPECT_EQ(in_sqlite, in_postgres);
}

}  // namespace
}  // namespace flotilla::server
