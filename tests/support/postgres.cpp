#include "tests/support/postgres.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>

#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {
namespace {

const std::string kScript = std::string(FLOTILLA_SOURCE_DIR) + "/tests/support/postgres-cluster";

struct Cluster {
  std::string url;  // without a database name
  std::optional<std::string> missing;
};

std::string value_of(const std::string& info_text, const std::string& key) {
  auto at = info_text.find(key + "=");
  if (at == std::string::npos) return "";
  auto end = info_text.find('\n', at);
  return info_text.substr(at + key.size() + 1, end == std::string::npos ? std::string::npos : end - at - key.size() - 1);
}

Cluster& cluster() {
  static Cluster instance = [] {
    Cluster c;
    // The ctest fixture's cluster, when it runs (an info file left by an
    // interrupted run names a cluster that no longer answers).
    if (std::filesystem::exists(FLOTILLA_POSTGRES_INFO)) {
      c.url = value_of(read_text(FLOTILLA_POSTGRES_INFO), "url");
      if (!c.url.empty() && capture_shell("psql -X -q -c 'SELECT 1' '" + c.url + "/postgres' > /dev/null 2>&1").status == 0) {
        return c;
      }
    }
    auto info = std::filesystem::temp_directory_path() /
                ("flotilla-postgres-" + std::to_string(::getpid()) + ".info");
    auto [code, out] = capture_shell("'" + kScript + "' start '" + info.string() + "' 2>&1");
    if (code == 77) {
      while (!out.empty() && out.back() == '\n') out.pop_back();
      c.missing = out;
      return c;
    }
    if (code != 0) throw std::runtime_error("starting PostgreSQL for the tests failed: " + out);
    c.url = value_of(read_text(info), "url");
    // Kept beyond static destruction: the exit handler runs after it.
    static const std::string* stop_command = new std::string("'" + kScript + "' stop '" + info.string() + "' 2>&1");
    std::atexit([] { (void)capture_shell(*stop_command); });
    return c;
  }();
  return instance;
}

std::string psql(const std::string& url, const std::string& sql) {
  auto [code, out] = capture_shell("psql -X -q -t -A -v ON_ERROR_STOP=1 " + shell_quoted(url) + " -c " + shell_quoted(sql) + " 2>&1");
  if (code != 0) throw std::runtime_error("psql: " + sql + ": " + out);
  return out;
}

}  // namespace

std::optional<std::string> postgres_missing() { return cluster().missing; }

PostgresDatabase::PostgresDatabase() {
  if (auto missing = cluster().missing) throw std::runtime_error(*missing);
  std::random_device random;
  name_ = "flotilla_test_" + std::to_string(::getpid()) + "_" + std::to_string(random() % 1000000000);
  psql(cluster().url + "/postgres", "CREATE DATABASE " + name_);
  url_ = cluster().url + "/" + name_;
}

PostgresDatabase::~PostgresDatabase() {
  try {
    psql(cluster().url + "/postgres", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The cluster is thrown away at the end anyway.
  }
}

std::string PostgresDatabase::query(const std::string& sql) const { return psql(url_, sql); }

void PostgresDatabase::set_reachable(bool reachable) const {
  const auto admin = cluster().url + "/postgres";
  psql(admin, "ALTER DATABASE " + name_ + " ALLOW_CONNECTIONS " + (reachable ? "true" : "false"));
  if (!reachable) {
    psql(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + name_ + "'");
  }
}

}  // namespace flotilla::testing
