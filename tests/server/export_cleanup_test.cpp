// An export that fails, at any point and for any reason, leaves the
// exports directory as it was: an exception from the JSON writer, a store
// that fails mid-walk or at the audit head, a disk that fills while the
// rows or the signature are written. Each failed request once left an
// empty report-<random> behind, so a reader could fill the disk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "server/compliance/export.hpp"
#include "server/store/sql.hpp"
#include "server/store/sql_store.hpp"
#include "signing/key.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using server::compliance::Format;

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) names.insert(entry.path().lexically_relative(dir).string());
  return names;
}

class ExportCleanupTest : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::unique_ptr<server::SqlStore> store;
  signing::PrivateKey key = testing::make_key(signing::Algorithm::kEcdsaP256);
  fs::path exports;

  void SetUp() override {
    auto opened = server::SqlStore::open((dir / "flotilla.db").string());
    ASSERT_TRUE(opened) << opened.error().describe();
    store = std::move(*opened);
    // Enough accepted devices for reports of a few hundred kilobytes.
    for (int i = 0; i < 400; ++i) {
      auto id = std::to_string(1000 + i) + std::string(60, 'd');
      server::DeviceRecord d{.id = id, .device_type = "gw-x1", .identity_json = R"({"serial":"S"})", .public_key = "pem"};
      auto now = common::format_rfc3339(common::now_utc());
      ASSERT_TRUE(store->enroll_device(d, std::nullopt, "nonce-" + id, now, now, {"t", "device.enroll", "device:" + id}));
      ASSERT_TRUE(store->set_device_status(id, "accepted", {"t", "device.accept", "device:" + id}));
    }
    exports = dir / "exports";
    fs::create_directories(exports);
    testing::write_text(exports / "earlier-file", "stays");
  }

  common::Result<server::compliance::ExportedReport> run(Format format, server::compliance::ReportQuery query = {},
                                                         const fs::path& where = {}) {
    return server::compliance::export_report(*store, query, format, &key, common::now_utc(), where.empty() ? exports : where);
  }
  // The store holds its file exclusively: closed, changed underneath, reopened.
  void rename_table(const std::string& from, const std::string& to) {
    store.reset();
    reopen_after_rename(from, to);
  }
  void reopen_after_rename(const std::string& from, const std::string& to) {
    {
      auto db = server::sql::open_sqlite((dir / "flotilla.db").string());
      ASSERT_TRUE(db) << db.error().describe();
      auto ok = (*db)->exec("ALTER TABLE " + from + " RENAME TO " + to);
      ASSERT_TRUE(ok) << ok.error().describe();
    }
    auto opened = server::SqlStore::open((dir / "flotilla.db").string());
    ASSERT_TRUE(opened) << opened.error().describe();
    store = std::move(*opened);
  }
};

TEST_F(ExportCleanupTest, AFailedExportLeavesTheExportsDirectoryAsItWas) {
  auto before = listing(exports);
  const Format formats[] = {Format::kJson, Format::kCsv, Format::kSigned, Format::kHtml};

  // The JSON library throws on text that is not UTF-8 (a filter no route
  // lets through any more): an error, not an exception, and no file.
  for (auto format : formats) {
    server::compliance::ReportQuery query;
    query.device_type = "\xFF";
    auto report = run(format, query);
    if (report) fs::remove(report->file);  // CSV and HTML escape rather than throw
    EXPECT_EQ(listing(exports), before) << "format " << static_cast<int>(format);
  }

  // The store fails while the rows are walked.
  rename_table("devices", "devices_away");
  for (auto format : formats) {
    EXPECT_FALSE(run(format)) << "format " << static_cast<int>(format);
    EXPECT_EQ(listing(exports), before) << "walk, format " << static_cast<int>(format);
  }
  rename_table("devices_away", "devices");

  // The store fails at the audit head, after every row was written.
  rename_table("audit_log", "audit_away");
  for (auto format : formats) {
    EXPECT_FALSE(run(format)) << "format " << static_cast<int>(format);
    EXPECT_EQ(listing(exports), before) << "audit head, format " << static_cast<int>(format);
  }
  rename_table("audit_away", "audit_log");

  // And it still works.
  auto report = run(Format::kSigned);
  ASSERT_TRUE(report) << report.error().describe();
  EXPECT_GT(fs::file_size(report->file), 100000u);
}

// A disk that fills: a small tmpfs, sized so that some exports fail while
// rows are written and others while the signed envelope is.
TEST_F(ExportCleanupTest, ADiskThatFillsMidExportLeavesNothing) {
  auto full = dir / "small";
  fs::create_directories(full);
  if (testing::run_shell("mount -t tmpfs -o size=400k tmpfs '" + full.string() + "' 2>/dev/null") != 0) {
    // CI runs as root: there a mount that fails is a failure, not a skip.
    if (::geteuid() == 0) FAIL() << "a tmpfs could not be mounted as root";
    GTEST_SKIP() << "not root: no small filesystem can be mounted to fill";
  }
  struct Unmount {
    fs::path where;
    ~Unmount() { testing::run_shell("umount '" + where.string() + "'"); }
  } unmount{full};
  int failed = 0, succeeded = 0;
  std::set<std::string> reasons;
  for (int filler_kib : {0, 100, 200, 260, 300, 340, 380}) {
    testing::write_text(full / "filler", std::string(static_cast<std::size_t>(filler_kib) * 1024, 'f'));
    auto before = listing(full);
    for (auto format : {Format::kJson, Format::kCsv, Format::kSigned, Format::kHtml}) {
      auto report = run(format, {}, full);
      if (report) {
        ++succeeded;
        fs::remove(report->file);
      } else {
        ++failed;
        reasons.insert(report.error().describe().substr(0, 40));
      }
      EXPECT_EQ(listing(full), before) << "filler " << filler_kib << " KiB, format " << static_cast<int>(format);
    }
  }
  EXPECT_GT(succeeded, 0);
  EXPECT_GT(failed, 3);
  EXPECT_GE(reasons.size(), 2u) << "the disk filled at only one point";
}

}  // namespace
}  // namespace flotilla
