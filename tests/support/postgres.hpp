// PostgreSQL for the tests: databases on a throwaway cluster
// (tests/support/postgres-cluster). Under ctest, the cluster is the one the
// fixture test `postgres.start` started (its info file is in the build
// tree); a test binary run by hand starts its own on first use and stops
// it at exit.
#pragma once

#include <optional>
#include <string>

namespace flotilla::testing {

// Why PostgreSQL cannot be used here (it is not installed), or nullopt.
// A cluster that is installed but fails to start is a test failure, not
// a reason: PostgreSQL tests never skip silently.
std::optional<std::string> postgres_missing();

// A new empty database, dropped (its connections forced out) at
// destruction. Throws std::runtime_error when it cannot be made.
class PostgresDatabase {
 public:
  PostgresDatabase();
  ~PostgresDatabase();
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;
  // postgres://postgres@127.0.0.1:PORT/NAME
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // Runs SQL as the superuser in this database (psql); returns its output.
  std::string query(const std::string& sql) const;
  // An outage as its clients see it: false refuses new connections and
  // cuts the open ones; true lets them in again.
  void set_reachable(bool reachable) const;

 private:
  std::string name_, url_;
};

// Skips the current test, saying why, when PostgreSQL is not installed.
#define FLOTILLA_REQUIRE_POSTGRES()                                               \
  if (auto missing = ::flotilla::testing::postgres_missing()) GTEST_SKIP() << *missing

}  // namespace flotilla::testing
