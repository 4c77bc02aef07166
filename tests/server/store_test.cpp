// The Store contract, tested through the interface only, so the same suite
// runs against every engine: SQLite, and PostgreSQL on a throwaway
// cluster (ctest label postgres). A fake clock stamps audit entries.
#include <gtest/gtest.h>

#include "server/errors.hpp"
#include "server/store/sql_store.hpp"
#include "signing/audit_chain.hpp"
#include "signing/digest.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/postgres.hpp"

namespace flotilla::server {
namespace {

using common::TimePoint;

class StoreTest : public ::testing::TestWithParam<sql::Engine> {
 protected:
  testing::TempDir dir;
  std::unique_ptr<testing::PostgresDatabase> database;
  TimePoint now = *common::parse_rfc3339("2026-11-24T19:00:00Z");
  std::unique_ptr<Store> store;

  void SetUp() override {
    std::string location = (dir / "flotilla.db").string();
    if (GetParam() == sql::Engine::kPostgres) {
      FLOTILLA_REQUIRE_POSTGRES();
      database = std::make_unique<testing::PostgresDatabase>();
      location = database->url();
    }
    auto opened = SqlStore::open(location, [this] { return now; });
    ASSERT_TRUE(opened) << opened.error().describe();
    store = std::move(*opened);
  }
  void TearDown() override { store.reset(); }  // before its database goes

  std::string at(int seconds) const { return common::format_rfc3339(now + std::chrono::seconds(seconds)); }
  static std::string hash(const std::string& secret) { return signing::sha256_hex(secret); }

  DeviceRecord enroll(const std::string& id, const std::optional<std::string>& token = std::nullopt,
                      const std::string& type = "gw-x1") {
    DeviceRecord d{.id = id, .device_type = type, .identity_json = R"({"serial":"S"})", .public_key = "pem"};
    auto stored = store->enroll_device(d, token ? std::optional(hash(*token)) : std::nullopt, "nonce-" + id,
                                       at(0), at(-600), {"device:" + id, "device.enroll", "device:" + id});
    EXPECT_TRUE(stored) << stored.error().describe();
    return *stored;
  }

  std::string bundle(const std::string& digest) {
    BundleRecord b{.file_sha256 = digest, .bundle_id = "id-" + digest, .name = "gw-os", .kind = "os",
                   .component = "rootfs", .version = "2.4.0", .security_version = 7, .size = 10,
                   .manifest_json = "{}", .signer_keyids_json = "[]", .uploaded_at = at(0), .uploaded_by = "t"};
    EXPECT_TRUE(*store->insert_bundle(b, {"t", "bundle.upload", "bundle:" + digest}));
    return digest;
  }

  std::int64_t deploy(const std::string& digest, const std::vector<std::string>& devices) {
    DeploymentRecord d{.bundle = digest, .component = "rootfs", .created_by = "t", .created_at = at(0)};
    auto id = store->create_deployment(d, devices, {"t", "deployment.create", "bundle:" + digest});
    EXPECT_TRUE(id) << id.error().describe();
    return id ? *id : 0;
  }

  DeploymentEvent event(std::int64_t seq, const std::string& state) {
    return {seq, state, 0, "", at(0), std::nullopt, "{}", "sig"};
  }
};

TEST_P(StoreTest, AuditChainIsContinuousAndVerifies) {
  ASSERT_TRUE(store->append_audit({"a", "x", "o"}));
  now += std::chrono::seconds(5);
  ASSERT_TRUE(store->append_audit({"b", "y", "o", "failed", {{"n", 1}}}));
  auto entries = *store->list_audit(0, 10);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].prev_hash, signing::kGenesisHash);
  EXPECT_EQ(entries[1].prev_hash, entries[0].hash);
  EXPECT_EQ(entries[1].time, "2026-11-24T19:00:05Z");
  signing::AuditChainVerifier verifier;
  for (const auto& e : entries) ASSERT_TRUE(verifier.add_line(signing::audit_line(e)));
  EXPECT_EQ(store->list_audit(1, 10)->size(), 1u);
}

TEST_P(StoreTest, TokensAreFoundByHashAndRevokedWithAudit) {
  TokenRecord t{.name = "ci", .role = "publisher", .created_at = at(0)};
  auto id = *store->create_token(t, hash("secret"), {"admin", "token.create", "token:ci"});
  EXPECT_EQ((*store->find_token(hash("secret")))->name, "ci");
  EXPECT_FALSE(*store->find_token(hash("other")));
  ASSERT_TRUE(store->revoke_token(id, {"admin", "token.revoke", "token:ci"}));
  EXPECT_TRUE((*store->find_token(hash("secret")))->revoked);
  EXPECT_TRUE(store->revoke_token(id, {"admin", "token.revoke", "token:ci"}).error().is(common::Errc::kNotFound));
  EXPECT_EQ(store->list_audit(0, 10)->size(), 2u);  // the failed revoke wrote nothing
}

TEST_P(StoreTest, BundlesDedupeAndDeleteOnlyWhenUnused) {
  bundle("aa");
  BundleRecord again{.file_sha256 = "aa", .bundle_id = "x", .name = "n", .kind = "os", .component = "c", .version = "1.0.0",
                     .manifest_json = "{}", .signer_keyids_json = "[]", .uploaded_at = at(0), .uploaded_by = "t"};
  EXPECT_FALSE(*store->insert_bundle(again, {"t", "bundle.upload", "bundle:aa"}));
  EXPECT_EQ((*store->find_bundle("id-aa"))->file_sha256, "aa");
  EXPECT_EQ(store->list_audit(0, 10)->size(), 1u);
  enroll("d1", std::nullopt);
  ASSERT_TRUE(store->set_device_status("d1", "accepted", {"t", "device.accept", "device:d1"}));
  deploy("aa", {"d1"});
  EXPECT_TRUE(*store->bundle_in_use("aa"));
  bundle("bb");
  ASSERT_TRUE(store->delete_bundle("bb", {"t", "bundle.delete", "bundle:bb"}));
  EXPECT_TRUE(store->delete_bundle("bb", {"t", "bundle.delete", "bundle:bb"}).error().is(common::Errc::kNotFound));
}

TEST_P(StoreTest, EnrollmentTokensCountUsesAndRefuseWhenSpent) {
  EnrollmentTokenRecord t{.name = "f", .device_types_json = R"(["gw-x1"])", .max_uses = 2, .expires_at = at(3600), .created_at = at(0)};
  ASSERT_TRUE(store->create_enrollment_token(t, hash("enr"), {"t", "enrollment_token.create", "e"}));
  EXPECT_EQ(enroll("d1", "enr").status, "accepted");
  EXPECT_EQ(enroll("d2", "enr").status, "accepted");
  DeviceRecord third{.id = "d3", .device_type = "gw-x1", .identity_json = "{}", .public_key = "pem"};
  auto refused = store->enroll_device(third, hash("enr"), "nonce-d3", at(0), at(-600), {"device:d3", "device.enroll", "device:d3"});
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(Errc::kEnrollmentRefused));
  EXPECT_FALSE(*store->find_device("d3"));
  DeviceRecord wrong{.id = "d4", .device_type = "gw-x9", .identity_json = "{}", .public_key = "pem"};
  EnrollmentTokenRecord fresh{.name = "g", .device_types_json = R"(["gw-x1"])", .max_uses = 5, .expires_at = at(3600), .created_at = at(0)};
  ASSERT_TRUE(store->create_enrollment_token(fresh, hash("enr2"), {"t", "enrollment_token.create", "e"}));
  EXPECT_TRUE(store->enroll_device(wrong, hash("enr2"), "nonce-d4", at(0), at(-600), {"x", "y", "z"})
                  .error()
                  .is(Errc::kEnrollmentRefused));
  EXPECT_EQ(store->list_enrollment_tokens()->at(0).uses, 2);
}

TEST_P(StoreTest, NoncesAreSingleUseWithinTheirWindow) {
  enroll("d1");
  DeviceRecord same{.id = "d1", .device_type = "gw-x1", .identity_json = "{}", .public_key = "pem"};
  auto replay = store->enroll_device(same, std::nullopt, "nonce-d1", at(0), at(-600), {"x", "y", "z"});
  ASSERT_FALSE(replay);
  EXPECT_TRUE(replay.error().is(Errc::kReplay));
  // Long after the window the old nonce was pruned; a request with it would
  // fail the timestamp check instead, so pruning loses no protection.
  EXPECT_TRUE(store->enroll_device(same, std::nullopt, "nonce-d1", at(3600), at(3000), {"x", "y", "z"}));
}

TEST_P(StoreTest, DeviceTokensExpireAndDieWithDecommission) {
  enroll("d1", std::nullopt);
  ASSERT_TRUE(store->set_device_status("d1", "accepted", {"t", "device.accept", "device:d1"}));
  ASSERT_TRUE(store->issue_device_token("d1", hash("dev"), at(60)));
  EXPECT_EQ((*store->find_device_by_token(hash("dev"), at(0)))->id, "d1");
  EXPECT_FALSE(*store->find_device_by_token(hash("dev"), at(61)));
  // A new token leaves the earlier ones valid (a lost answer, two
  // processes), up to kLiveDeviceTokens: the oldest goes first.
  ASSERT_TRUE(store->issue_device_token("d1", hash("dev2"), at(600)));
  EXPECT_TRUE(*store->find_device_by_token(hash("dev"), at(0)));
  for (std::int64_t i = 3; i <= server::kLiveDeviceTokens; ++i) {
    ASSERT_TRUE(store->issue_device_token("d1", hash("dev" + std::to_string(i)), at(600 + static_cast<int>(i))));
  }
  EXPECT_TRUE(*store->find_device_by_token(hash("dev"), at(0)));
  ASSERT_TRUE(store->issue_device_token("d1", hash("dev-newest"), at(700)));
  EXPECT_FALSE(*store->find_device_by_token(hash("dev"), at(0)));  // the oldest of nine
  EXPECT_TRUE(*store->find_device_by_token(hash("dev2"), at(0)));
  ASSERT_TRUE(store->set_device_status("d1", "decommissioned", {"t", "device.decommission", "device:d1"}));
  EXPECT_FALSE(*store->find_device_by_token(hash("dev2"), at(0)));
  EXPECT_FALSE(*store->find_device_by_token(hash("dev-newest"), at(0)));
}

TEST_P(StoreTest, InventoryCounterOnlyGoesUpAndTamperIsAudited) {
  enroll("d1");
  ASSERT_TRUE(store->record_inventory("d1", {1, "{}", "s", "digest1", false}, at(0)));
  EXPECT_TRUE(store->record_inventory("d1", {1, "{}", "s", "digest2", false}, at(0)).error().is(Errc::kReplay));
  ASSERT_TRUE(store->record_inventory("d1", {5, "{}", "s", "digest3", true}, at(0)));
  auto device = *store->find_device("d1");
  EXPECT_EQ(device->inventory_digest, "digest3");
  EXPECT_TRUE(device->tampered);
  auto audit = *store->list_audit(0, 100);
  EXPECT_EQ(audit.back().action, "device.tamper");
  // A counter may step at most 2^32 past the last accepted one.
  EXPECT_TRUE(store->record_inventory("d1", {5 + server::kMaxCounterStep + 1, "{}", "s", "d4", false}, at(0))
                  .error().is(Errc::kReplay));
  EXPECT_TRUE(store->record_inventory("d1", {5 + server::kMaxCounterStep, "{}", "s", "d5", false}, at(0)));
}

TEST_P(StoreTest, InventoryChangesAreChainedWithTheReportTheyComeFrom) {
  enroll("d1");
  auto inventory_entries = [&] {
    std::vector<signing::AuditEntry> found;
    auto audit = store->list_audit(0, 1000);
    for (auto& e : *audit) {
      if (e.action == "device.inventory") found.push_back(e);
    }
    return found;
  };
  server::InventoryReport report{1, "{}", "s", "digest1", false};
  report.components = {{"rootfs", "2.3.0", 5}, {"fw", "1.0.0", 1}};
  ASSERT_TRUE(store->record_inventory("d1", report, at(0)));
  report.counter = 2;
  report.digest = "digest2";
  std::reverse(report.components.begin(), report.components.end());  // same versions, other order
  ASSERT_TRUE(store->record_inventory("d1", report, at(1)));
  report.counter = 3;
  report.digest = "digest3";
  report.components[1].security_version = 6;
  ASSERT_TRUE(store->record_inventory("d1", report, at(2)));
  auto entries = inventory_entries();
  ASSERT_EQ(entries.size(), 2u);  // the first report and the change; not the unchanged one
  const auto& first = entries[0].details;
  EXPECT_EQ(first["report_counter"], 1);
  EXPECT_EQ(first["report_digest"], "digest1");
  EXPECT_EQ(first["previous"], common::Json::object());
  EXPECT_EQ(first["components"]["rootfs"]["version"], "2.3.0");
  const auto& change = entries[1].details;
  EXPECT_EQ(change["report_counter"], 3);
  EXPECT_EQ(change["report_digest"], "digest3");
  EXPECT_EQ(change["previous"]["rootfs"]["security_version"], 5);
  EXPECT_EQ(change["components"]["rootfs"]["security_version"], 6);
  EXPECT_EQ(entries[1].actor, "device:d1");
}

TEST_P(StoreTest, LastSeenIsBatchedButVisibleToReaders) {
  auto device = enroll("d1");
  ASSERT_TRUE(store->touch_device(device.key, now + std::chrono::seconds(30)));
  EXPECT_EQ((*store->find_device("d1"))->last_seen, at(30));
  ASSERT_TRUE(store->touch_device(device.key, now + std::chrono::seconds(10)));  // older: ignored
  EXPECT_EQ((*store->find_device("d1"))->last_seen, at(30));
  DeviceFilter stale{.seen_before = at(60)};
  EXPECT_EQ(store->list_devices(stale)->size(), 1u);
  DeviceFilter fresh{.seen_after = at(60)};
  EXPECT_TRUE(store->list_devices(fresh)->empty());
}

TEST_P(StoreTest, ManyLastSeenTimesAreWrittenInOneFlushNewestWins) {
  // 290 rows: one statement of 256 rows, two of 16 and two single rows.
  std::vector<DeviceRecord> devices;
  for (int i = 0; i < 290; ++i) devices.push_back(enroll("m" + std::to_string(i)));
  for (int i = 0; i < 290; ++i) ASSERT_TRUE(store->touch_device(devices[i].key, now + std::chrono::seconds(i)));
  ASSERT_EQ(store->list_devices(DeviceFilter{.limit = 1000})->size(), 290u);  // readers flush first
  for (int i = 0; i < 290; i += 2) {  // older times for every other device: ignored
    ASSERT_TRUE(store->touch_device(devices[i].key, now - std::chrono::seconds(100)));
  }
  auto listed = *store->list_devices(DeviceFilter{.limit = 1000});
  ASSERT_EQ(listed.size(), 290u);
  for (const auto& d : listed) EXPECT_EQ(d.last_seen, at(std::stoi(d.id.substr(1)))) << d.id;
}

TEST_P(StoreTest, OneActiveDeploymentPerComponentAndEventsAreIdempotent) {
  for (const char* id : {"d1", "d2"}) {
    enroll(id);
    ASSERT_TRUE(store->set_device_status(id, "accepted", {"t", "device.accept", id}));
  }
  auto digest = bundle("aa");
  auto id = deploy(digest, {"d1"});
  DeploymentRecord again{.bundle = digest, .component = "rootfs", .created_by = "t", .created_at = at(0)};
  auto conflict = store->create_deployment(again, {"d2", "d1"}, {"t", "deployment.create", "x"});
  ASSERT_FALSE(conflict);
  EXPECT_TRUE(conflict.error().is(common::Errc::kConflict));
  EXPECT_TRUE(store->find_deployment(id + 1)->has_value() == false);  // rolled back whole, d2 included

  auto offer = *store->take_offer("d1", at(0));
  ASSERT_TRUE(offer);
  EXPECT_EQ(offer->state, "offered");
  EXPECT_FALSE(*store->take_offer("d2", at(0)));
  EXPECT_TRUE(*store->device_may_download("d1", digest));
  EXPECT_FALSE(*store->device_may_download("d2", digest));

  EXPECT_TRUE(*store->record_event(id, "d1", event(1, "downloading"), at(1)));
  EXPECT_FALSE(*store->record_event(id, "d1", event(1, "downloading"), at(2)));  // resend
  EXPECT_TRUE(store->record_event(id, "d1", event(2, "offered"), at(2)).error().is(Errc::kBadTransition));
  EXPECT_TRUE(*store->record_event(id, "d1", event(3, "succeeded"), at(3)));
  EXPECT_TRUE(store->record_event(id, "d2", event(1, "downloading"), at(3)).error().is(common::Errc::kNotFound));
  EXPECT_EQ(store->deployment_devices(id)->at(0).state, "succeeded");
  EXPECT_EQ(store->deployment_events(id, "d1")->size(), 2u);
  EXPECT_FALSE(*store->take_offer("d1", at(4)));
  EXPECT_TRUE(deploy(digest, {"d1"}) > 0);  // free again after the final state
}

// The poll's one-statement read: the token's device and its offer as it
// stands, which take_offer then marks fetched without reading it again;
// unknown and expired tokens find nothing, a device without a deployment
// has no offer.
TEST_P(StoreTest, ThePollReadsTheDeviceAndItsOfferInOneStatement) {
  for (const char* id : {"d1", "d2"}) {
    enroll(id);
    ASSERT_TRUE(store->set_device_status(id, "accepted", {"t", "device.accept", id}));
  }
  ASSERT_TRUE(store->issue_device_token("d1", hash("one"), at(60)));
  ASSERT_TRUE(store->issue_device_token("d2", hash("two"), at(60)));
  EXPECT_FALSE(*store->find_device_and_offer(hash("nobody"), at(0)));
  EXPECT_FALSE(*store->find_device_and_offer(hash("one"), at(61)));
  auto idle = *store->find_device_and_offer(hash("two"), at(0));
  ASSERT_TRUE(idle);
  EXPECT_EQ(idle->device.id, "d2");
  EXPECT_FALSE(idle->offer);

  auto digest = bundle("ac");
  auto id = deploy(digest, {"d1"});
  auto polled = *store->find_device_and_offer(hash("one"), at(1));
  ASSERT_TRUE(polled && polled->offer);
  EXPECT_EQ(polled->device.id, "d1");
  EXPECT_EQ(polled->offer->state, "pending");
  EXPECT_EQ(polled->offer->deployment.id, id);
  EXPECT_EQ(polled->offer->bundle.file_sha256, digest);
  auto taken = *store->take_offer("d1", at(1), polled->offer);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->state, "offered");
  EXPECT_EQ(store->deployment_devices(id)->at(0).state, "offered");
  // As read again: offered now, and what take_offer reads the same.
  polled = *store->find_device_and_offer(hash("one"), at(2));
  ASSERT_TRUE(polled && polled->offer);
  EXPECT_EQ(polled->offer->state, "offered");
  auto direct = *store->take_offer("d1", at(2));
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->deployment.id, polled->offer->deployment.id);
  EXPECT_EQ(direct->bundle.bundle_id, polled->offer->bundle.bundle_id);
}

// A power cut or a lost network: recorded and counted, back to
// downloading, never a failure; not once the new version is activated.
TEST_P(StoreTest, InterruptionsGoBackToDownloadingAndAreCountedApart) {
  for (const char* id : {"d1", "d2"}) {
    enroll(id);
    ASSERT_TRUE(store->set_device_status(id, "accepted", {"t", "device.accept", id}));
  }
  auto digest = bundle("ab");
  auto id = deploy(digest, {"d1", "d2"});
  ASSERT_TRUE(*store->take_offer("d1", at(0)));
  ASSERT_TRUE(*store->take_offer("d2", at(0)));
  EXPECT_EQ(store->count_interruptions(id)->total, 0);

  EXPECT_TRUE(*store->record_event(id, "d1", event(1, "installing"), at(1)));
  EXPECT_TRUE(*store->record_event(id, "d1", event(2, "interrupted"), at(2)));
  EXPECT_TRUE(*store->record_event(id, "d1", event(3, "interrupted"), at(3)));
  auto members = *store->deployment_devices(id);
  auto d1 = std::find_if(members.begin(), members.end(), [](const DeploymentDevice& m) { return m.device_id == "d1"; });
  ASSERT_NE(d1, members.end());
  EXPECT_EQ(d1->state, "downloading");
  EXPECT_EQ(d1->interruptions, 2);
  EXPECT_TRUE(d1->active);
  EXPECT_TRUE(*store->record_event(id, "d1", event(4, "downloading"), at(4)));  // taken again
  EXPECT_TRUE(*store->record_event(id, "d1", event(5, "succeeded"), at(5)));

  EXPECT_TRUE(*store->record_event(id, "d2", event(1, "verifying"), at(1)));
  EXPECT_TRUE(store->record_event(id, "d2", event(2, "interrupted"), at(2)).error().is(Errc::kBadTransition));

  auto count = *store->count_interruptions(id);
  EXPECT_EQ(count.devices, 1);
  EXPECT_EQ(count.total, 2);
  auto events = *store->deployment_events(id, "d1");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1].state, "interrupted");
}

TEST_P(StoreTest, SettingsAreWrittenTogether) {
  ASSERT_TRUE(store->set_settings({{"a", "1"}, {"b", "2"}}, {"t", "trust.set", "root:1"}));
  EXPECT_EQ(**store->setting("b"), "2");
  EXPECT_FALSE(*store->setting("c"));
  EXPECT_EQ(store->list_audit(0, 10)->size(), 1u);
}

// The scheduler's side of the contract: a pass is all or nothing, is
// dropped when the rollout changed state meanwhile, never offers a device
// twice; pause takes back unfetched offers; transitions are checked.
TEST_P(StoreTest, RolloutPassesTransitionsAndWithdrawals) {
  std::string digest = bundle("b1");
  for (const char* id : {"d1", "d2", "d3"}) {
    enroll(id);
    ASSERT_TRUE(store->set_device_status(id, "accepted", {"t", "device.accept", std::string("device:") + id}));
  }
  RolloutRecord r{.name = "r", .policy_json = "{}", .bundle = digest, .state = RolloutState::kRunning, .created_by = "t",
                  .created_at = at(0), .updated_at = at(0)};
  DeploymentRecord d{.bundle = digest, .component = "rootfs", .created_by = "t", .created_at = at(0)};
  auto id = store->create_rollout(r, d, {"t", "rollout.create", "bundle:" + digest});
  ASSERT_TRUE(id) << id.error().describe();
  auto rollout = **store->find_rollout(*id);
  EXPECT_EQ(*store->next_rollout_id(), *id + 1);
  EXPECT_EQ(store->find_deployment(rollout.deployment_id)->value().rollout_id, *id);

  RolloutPass pass{.rollout_id = *id, .expected_state = RolloutState::kRunning, .now = 1000, .placed = {{"d1", 0}, {"d2", 0}},
                   .offers = {"d1", "d2"}, .completed_waves = {}, .status_json = R"({"waves": []})"};
  ASSERT_TRUE(*store->hold_scheduler_lease());
  ASSERT_TRUE(store->apply_rollout_pass(pass));
  ASSERT_TRUE(store->apply_rollout_pass(pass));  // applied twice: still one offer each
  auto rows = *store->deployment_devices(rollout.deployment_id);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) EXPECT_EQ(row.state, "pending");
  std::vector<std::string> offered;
  ASSERT_TRUE(store->scan_rollout_devices(rollout, "rootfs", {"gw-x1"}, [&](RolloutDevice& device) {
    if (device.state) offered.push_back(device.id);
    if (device.id == "d1") {
      EXPECT_EQ(device.wave, 0);
    }
    if (device.id == "d3") {
      EXPECT_FALSE(device.wave);
    }
  }));
  EXPECT_EQ(offered, (std::vector<std::string>{"d1", "d2"}));

  // d1 fetched its offer; pausing takes back only d2's.
  ASSERT_TRUE(*store->take_offer("d1", at(1)));
  ASSERT_TRUE(store->transition_rollout({.rollout_id = *id, .event = RolloutEvent::kPause, .reason = "p",
                                         .withdraw_unfetched = true},
                                        {"t", "rollout.pause", "rollout:1"}));
  rows = *store->deployment_devices(rollout.deployment_id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].device_id, "d1");
  // A pass computed while running is dropped now that it is paused.
  pass.offers = {"d3"};
  auto stale = store->apply_rollout_pass(pass);
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().is(common::Errc::kConflict));
  EXPECT_EQ(store->deployment_devices(rollout.deployment_id)->size(), 1u);
  // Transitions are checked against the state.
  auto again = store->transition_rollout({.rollout_id = *id, .event = RolloutEvent::kPause}, {"t", "rollout.pause", "r"});
  ASSERT_FALSE(again);
  EXPECT_TRUE(again.error().is(common::Errc::kConflict));
  EXPECT_TRUE(store->transition_rollout({.rollout_id = 999, .event = RolloutEvent::kPause}, {"t", "x", "r"})
                  .error().is(common::Errc::kNotFound));
  ASSERT_TRUE(store->approve_wave(*id, 1, {"t", "rollout.approve", "rollout:1"}));
  ASSERT_TRUE(store->approve_wave(*id, 1, {"u", "rollout.approve", "rollout:1"}));  // idempotent: the first approver stays
  auto waves = *store->rollout_waves(*id);
  ASSERT_EQ(waves.size(), 1u);
  EXPECT_EQ(waves[0].approved_by, "t");
  EXPECT_EQ(*store->count_rollouts_by_state(), (std::vector<std::pair<std::string, std::int64_t>>{{"paused", 1}}));
}

std::string engine_name(const ::testing::TestParamInfo<sql::Engine>& engine) {
  return engine.param == sql::Engine::kSqlite ? "sqlite" : "postgres";
}
INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values(sql::Engine::kSqlite, sql::Engine::kPostgres), engine_name);

}  // namespace
}  // namespace flotilla::server
