#include "common/sqlite.hpp"

#include <array>
#include <gtest/gtest.h>

#include "tests/support/fixtures.hpp"

namespace flotilla::common {
namespace {

constexpr std::array<std::string_view, 2> kMigrations = {
    "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER)",
    "ALTER TABLE t ADD COLUMN note TEXT",
};

TEST(Sqlite, MigratesOnceAndBindsTypedValues) {
  testing::TempDir dir;
  auto path = (dir / "db.sqlite").string();
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db) << db.error().describe();
    ASSERT_TRUE(db->migrate(kMigrations));
    EXPECT_EQ(*db->user_version(), 2);
    auto insert = *db->prepare("INSERT INTO t (name, n, note) VALUES (?, ?, ?)");
    ASSERT_TRUE(insert.bind(1, "a'; DROP TABLE t; --").bind(2, std::int64_t{42}).bind(3, std::optional<std::string>{}).run());
    insert.reset();
    auto duplicate = insert.bind(1, "a'; DROP TABLE t; --").bind(2, std::int64_t{1}).run();
    ASSERT_FALSE(duplicate);
    EXPECT_TRUE(duplicate.error().is(Errc::kConflict));
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db->migrate(kMigrations));  // already applied: nothing to do
  auto select = *db->prepare("SELECT name, n, note FROM t");
  ASSERT_TRUE(*select.step());
  EXPECT_EQ(select.text(0), "a'; DROP TABLE t; --");
  EXPECT_EQ(select.int64(1), 42);
  EXPECT_FALSE(select.optional_text(2));
  EXPECT_FALSE(*select.step());
}

TEST(Sqlite, RefusesANewerSchema) {
  testing::TempDir dir;
  auto db = *Database::open((dir / "db.sqlite").string());
  ASSERT_TRUE(db.exec("PRAGMA user_version = 9"));
  auto result = db.migrate(kMigrations);
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is(Errc::kDatabase));
}

// Another process holding the file past the busy timeout is a reason to
// try again later (the server answers 503), not a broken database.
TEST(Sqlite, AWriterHeldOffPastTheBusyTimeoutIsUnavailable) {
  testing::TempDir dir;
  auto path = (dir / "db.sqlite").string();
  auto holder = *Database::open(path);
  ASSERT_TRUE(holder.migrate(kMigrations));
  auto waiter = *Database::open(path);
  ASSERT_TRUE(waiter.exec("PRAGMA busy_timeout = 50"));
  ASSERT_TRUE(holder.exec("BEGIN EXCLUSIVE"));
  auto held_off = waiter.exec("INSERT INTO t (name) VALUES ('x')");
  ASSERT_FALSE(held_off);
  EXPECT_TRUE(held_off.error().is(Errc::kUnavailable)) << held_off.error().describe();
  ASSERT_TRUE(holder.exec("COMMIT"));
  EXPECT_TRUE(waiter.exec("INSERT INTO t (name) VALUES ('x')"));
}

TEST(Sqlite, TransactionRollsBackUnlessCommitted) {
  testing::TempDir dir;
  auto db = *Database::open((dir / "db.sqlite").string());
  ASSERT_TRUE(db.migrate(kMigrations));
  {
    auto tx = *Transaction::begin(db);
    ASSERT_TRUE(db.exec("INSERT INTO t (name) VALUES ('gone')"));
  }
  {
    auto tx = *Transaction::begin(db);
    ASSERT_TRUE(db.exec("INSERT INTO t (name) VALUES ('kept')"));
    ASSERT_TRUE(tx.commit());
  }
  auto count = *db.prepare("SELECT group_concat(name) FROM t");
  ASSERT_TRUE(*count.step());
  EXPECT_EQ(count.text(0), "kept");
}


// A copy made a few pages at a time while the same connection keeps
// writing ends up holding every write made before its last step.
TEST(Sqlite, AnOnlineCopyCarriesTheWritesMadeBetweenItsSteps) {
  testing::TempDir dir;
  auto db = Database::open((dir / "source.sqlite").string());
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)"));
  auto insert = *db->prepare("INSERT INTO t (payload) VALUES (?)");
  auto add_rows = [&](int n) {
    for (int i = 0; i < n; ++i) {
      insert.reset();
      ASSERT_TRUE(insert.bind(1, std::string(500, static_cast<char>('a' + i % 26))).run());
    }
  };
  add_rows(2000);
  auto copy = OnlineCopy::start(*db, (dir / "copy.sqlite").string());
  ASSERT_TRUE(copy) << copy.error().describe();
  int steps = 0;
  for (;;) {
    auto done = copy->step(16);
    ASSERT_TRUE(done) << done.error().describe();
    if (*done) break;
    add_rows(10);  // between steps, as polls go on between a backup's steps
    ++steps;
    ASSERT_LT(steps, 10000) << "the copy never finished";
  }
  EXPECT_GT(steps, 1);
  auto count = [](Database& d) {
    auto select = *d.prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(*select.step());
    return select.int64(0);
  };
  auto copied = Database::open((dir / "copy.sqlite").string());
  ASSERT_TRUE(copied);
  EXPECT_EQ(count(*copied), count(*db));
  EXPECT_EQ(count(*copied), 2000 + 10 * steps);
  // The file a copy would go to must be new.
  EXPECT_FALSE(OnlineCopy::start(*db, (dir / "copy.sqlite").string()));
}

}  // namespace
}  // namespace flotilla::common
