// `flotilla-server backup` and `restore` against the real server
// (docs/operations.md): an online copy while devices poll, a restored
// server that serves the same fleet, and backups that were cut, altered or
// aimed at the wrong place refused without leaving anything behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "common/sqlite.hpp"
#include "server/store/schema.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::run_shell;
using testing::ServerProcess;
using testing::TestDevice;

class BackupTest : public testing::RunningServer {
 protected:
  // Runs flotilla-server with `args`; its exit code, stdout+stderr in `output`.
  int flotilla_server(const std::string& args, std::string* output = nullptr) {
    auto log = dir / "command.log";
    int rc = run_shell(std::string(FLOTILLA_SERVER) + " " + args + " > '" + log.string() + "' 2>&1", 120);
    if (output) *output = read_text(log);
    return rc;
  }
  std::set<std::string> device_ids(cli::ApiClient client) {
    std::set<std::string> ids;
    for (const auto& d : client.request("GET", "/api/v1/devices?limit=1000")->json()["devices"]) ids.insert(d["id"].get<std::string>());
    return ids;
  }
  std::string backup_path() const { return (dir / "fleet.backup").string(); }
};

TEST_F(BackupTest, ABackupTakenWhileDevicesPollRestoresTheSameFleet) {
  std::vector<std::unique_ptr<TestDevice>> devices;
  auto token = enrollment_token(R"(["gw-x1"])", 20);
  for (int i = 0; i < 8; ++i) {
    devices.push_back(std::make_unique<TestDevice>(server->url(), "gw-x1", "BK-" + std::to_string(i)));
    ASSERT_EQ(devices.back()->auth(token).status, 200);
  }
  std::string bundle = upload_bundle("3.1.0");
  auto before = device_ids(admin_client());

  // Devices keep polling through the whole backup; none may fail.
  std::atomic<bool> stop{false};
  std::atomic<int> polls{0}, failures{0};
  std::thread poller([&] {
    while (!stop) {
      for (auto& d : devices) {
        (d->poll().status == 200 ? polls : failures)++;
      }
    }
  });
  std::string output;
  int rc = flotilla_server("backup --data '" + server->data().string() + "' --out '" + backup_path() + "' --with-bundles", &output);
  stop = true;
  poller.join();
  ASSERT_EQ(rc, 0) << output;
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(polls.load(), 0);
  EXPECT_NE(output.find("8 devices, 1 bundles (files included)"), std::string::npos) << output;
  EXPECT_NE(server->log().find("copied the store for a backup"), std::string::npos) << "the running server made the copy";
  EXPECT_TRUE(std::filesystem::is_empty(server->data() / "backups")) << "the server's copy is removed once packed";
  EXPECT_EQ(std::filesystem::status(backup_path()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto restored_dir = dir / "restored";
  ASSERT_EQ(flotilla_server("restore --from '" + backup_path() + "' --data '" + restored_dir.string() + "'", &output), 0) << output;
  EXPECT_NE(output.find("audit chain verified"), std::string::npos) << output;
  ServerProcess restored(FLOTILLA_SERVER, restored_dir);
  restored.start();
  cli::ApiClient admin(restored.url(), server->admin_token());  // the operators' tokens came along
  EXPECT_EQ(device_ids(admin), before);
  auto verify = admin.request("GET", "/api/v1/audit/verify")->json();
  EXPECT_TRUE(verify["valid"].get<bool>()) << verify.dump();
  auto audit = admin.request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  std::vector<std::string> actions;
  for (const auto& e : audit) actions.push_back(e["action"]);
  EXPECT_NE(std::find(actions.begin(), actions.end(), "store.backup"), actions.end());
  EXPECT_EQ(actions.back(), "store.restore");
  // The same devices, unchanged, go on with the restored server.
  devices.front()->reconnect(restored.url());
  ASSERT_EQ(devices.front()->auth().status, 200);
  EXPECT_EQ(devices.front()->poll().status, 200);
  EXPECT_EQ(admin.request("GET", "/api/v1/bundles/" + bundle + "/file")->status, 200) << "the bundle file came along";
}

TEST_F(BackupTest, ABackupAlteredOrCutShortIsRefusedAndLeavesNothing) {
  std::string output;
  ASSERT_EQ(flotilla_server("backup --data '" + server->data().string() + "' --out '" + backup_path() + "'", &output), 0) << output;
  auto unpacked = dir / "unpacked";
  std::filesystem::create_directories(unpacked);
  ASSERT_EQ(run_shell("tar -xf '" + backup_path() + "' -C '" + unpacked.string() + "'"), 0);

  // One byte of the report key changed, everything else as it was.
  std::string key = read_text(unpacked / "report.key");
  key[key.size() / 2] ^= 1;
  testing::write_text(unpacked / "report.key", key);
  auto altered = dir / "altered.backup";
  ASSERT_EQ(run_shell("tar -cf '" + altered.string() + "' -C '" + unpacked.string() +
                      "' flotilla.db report.key report.pub bundles.json backup.json"),
            0);
  // Cut: backup.json (the last member) missing.
  auto cut = dir / "cut.backup";
  ASSERT_EQ(run_shell("tar -cf '" + cut.string() + "' -C '" + unpacked.string() + "' flotilla.db report.key report.pub"), 0);

  for (auto [file, expected] : {std::pair{altered, "report.key does not match its SHA-256"}, std::pair{cut, "has no backup.json"}}) {
    auto target = dir / ("target-" + file.stem().string());
    EXPECT_EQ(flotilla_server("restore --from '" + file.string() + "' --data '" + target.string() + "'", &output), 1) << output;
    EXPECT_NE(output.find(expected), std::string::npos) << output;
    EXPECT_FALSE(std::filesystem::exists(target)) << "a refused restore leaves nothing";
  }
  // A directory in use is never written into.
  EXPECT_EQ(flotilla_server("restore --from '" + backup_path() + "' --data '" + server->data().string() + "'", &output), 1);
  EXPECT_NE(output.find("is not empty"), std::string::npos) << output;
  // An existing backup is never overwritten.
  EXPECT_EQ(flotilla_server("backup --data '" + server->data().string() + "' --out '" + backup_path() + "'", &output), 2);
  EXPECT_NE(output.find("refusing to overwrite"), std::string::npos) << output;
  // PostgreSQL is backed up with its own tools.
  EXPECT_EQ(flotilla_server("backup --data '" + server->data().string() + "' --out '" + (dir / "pg").string() +
                            "' --store postgres://u@127.0.0.1/db", &output), 2);
  EXPECT_NE(output.find("pg_dump"), std::string::npos) << output;
}

// With no server running, the command opens the store itself, but never
// migrates it: a store of another schema version is refused untouched.
TEST_F(BackupTest, AStoppedServersStoreIsBackedUpAsItIsOrNotAtAll) {
  ASSERT_EQ(server->stop(), 0);
  std::string output;
  ASSERT_EQ(flotilla_server("backup --data '" + server->data().string() + "' --out '" + backup_path() + "'", &output), 0) << output;
  EXPECT_NE(output.find("backup written to"), std::string::npos) << output;

  auto store = (server->data() / "flotilla.db").string();
  const auto current = static_cast<std::int64_t>(server::sqlite_migrations().size());
  {
    auto db = common::Database::open(store);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = " + std::to_string(current - 1)));  // as an older program left it
  }
  auto older = dir / "older.backup";
  EXPECT_EQ(flotilla_server("backup --data '" + server->data().string() + "' --out '" + older.string() + "'", &output), 1);
  EXPECT_NE(output.find("schema is version " + std::to_string(current - 1)), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(older));
  auto db = common::Database::open(store);
  EXPECT_EQ(*db->user_version(), current - 1) << "the refused backup migrated the store";
}

}  // namespace
}  // namespace flotilla
