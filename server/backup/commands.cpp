#include "server/backup/commands.hpp"

#include <iostream>
#include <memory>
#include <sstream>

#include "server/backup/backup.hpp"
#include "server/control/control_socket.hpp"
#include "common/sqlite.hpp"
#include "server/store/schema.hpp"
#include "server/store/sql.hpp"
#include "server/store/sql_store.hpp"

namespace flotilla::server::backup {
namespace {

namespace fs = std::filesystem;
constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2;

int fail(const std::string& what) {
  std::cerr << "flotilla-server: error: " << what << "\n";
  return kExitFailed;
}

// A line on stderr per tenth of each step: long copies show they advance.
Progress printer() {
  auto last = std::make_shared<std::pair<std::string, std::int64_t>>();
  return [last](const std::string& what, std::int64_t done, std::int64_t total) {
    std::int64_t tenth = total > 0 ? done * 10 / total : 10;
    if (last->first == what && last->second == tenth) return;
    *last = {what, tenth};
    std::cerr << what << ": " << tenth * 10 << "% (" << done << " of " << total << ")\n";
  };
}

// The store copied by the server running on DATA (through its control
// socket) or, when none runs, by opening the store here.
common::Result<fs::path> copy_of_store(const fs::path& data, const Progress& progress) {
  auto answer = control::request(data / control::kSocketName, "copy-store", [&](const std::string& line) {
    // "progress WHAT DONE TOTAL" from the server.
    std::istringstream in(line);
    std::string word, what;
    std::int64_t done = 0, total = 0;
    if (in >> word >> what >> done >> total && word == "progress") progress("the server is copying the store (pages)", done, total);
  });
  if (answer) return fs::path(*answer);
  if (!answer.error().is(common::Errc::kNotFound)) return std::unexpected(answer.error());
  // Opening the store would migrate it: a backup taken before an upgrade
  // must hold the store as the old program left it, so only a store of
  // this program's schema is opened here.
  const std::string path = (data / "flotilla.db").string();
  {
    auto raw = common::Database::open(path);
    if (!raw) return std::unexpected(raw.error());
    auto version = raw->user_version();
    if (!version) return std::unexpected(version.error());
    auto known = static_cast<std::int64_t>(sqlite_migrations().size());
    if (*version != known) {
      return common::fail(common::Errc::kConflict,
                          "the store's schema is version " + std::to_string(*version) + ", this program's " +
                              std::to_string(known) + "; no server runs on it, and backing it up here would " +
                              (*version < known ? "migrate it first" : "need a newer program") +
                              ": back it up with the flotilla-server that made it, or copy the stopped server's data "
                              "directory as files");
    }
  }
  auto store = SqlStore::open(path);
  if (!store) {
    return std::unexpected(store.error().with_context("no server answers at " + (data / control::kSocketName).string() +
                                                      ", and the store could not be opened here"));
  }
  return copy_store(**store, data, "local:backup", progress);
}

int run_backup(const BackupOptions& options, const std::string& store_flag) {
  if (sql::engine_of(store_flag) == sql::Engine::kPostgres) {
    std::cerr << "flotilla-server: a PostgreSQL store is backed up with pg_dump and the data directory's report key "
                 "(docs/operations.md, \"Backups on PostgreSQL\")\n";
    return kExitUsage;
  }
  if (!fs::is_regular_file(options.data / "flotilla.db")) {
    std::cerr << "flotilla-server: " << options.data.string() << " holds no flotilla.db: not the data directory of a server on SQLite\n";
    return kExitUsage;
  }
  if (fs::exists(options.out)) {
    std::cerr << "flotilla-server: " << options.out.string() << " exists; refusing to overwrite it\n";
    return kExitUsage;
  }
  auto progress = printer();
  auto copy = copy_of_store(options.data, progress);
  if (!copy) return fail(copy.error().describe());
  auto written = write_backup(options, *copy, progress);
  std::error_code ec;
  fs::remove(*copy, ec);
  if (!written) return fail(written.error().describe());
  std::cout << "backup written to " << options.out.string() << " (" << written->bytes << " bytes, mode 0600: it holds the "
            << "report private key)\n"
            << written->devices << " devices, " << written->bundles << " bundles"
            << (options.with_bundles ? " (files included)" : " (files not included: keep the bundle directory)") << ", audit log "
            << written->audit_entries << " entries, head " << written->audit_head_hash << "\n";
  return kExitOk;
}

int run_restore(const RestoreOptions& options) {
  auto restored = restore(options, printer());
  if (!restored) return fail(restored.error().describe());
  const fs::path bundle_dir = options.bundle_dir.empty() ? options.data / "bundles" : options.bundle_dir;
  std::cout << "restored " << options.data.string() << " from the backup of " << restored->created_at << ": "
            << restored->backup.devices << " devices, " << restored->backup.bundles << " bundles, audit chain verified ("
            << restored->backup.audit_entries << " entries with the restore's own, head " << restored->backup.audit_head_hash
            << ")\n";
  if (!restored->missing_bundles.empty()) {
    std::cerr << "flotilla-server: " << restored->missing_bundles.size() << " bundle file(s) the store names are not in "
              << bundle_dir.string() << "; copy them there from the old bundle directory (or back up with --with-bundles) "
              << "before devices are offered them:\n";
    for (const auto& digest : restored->missing_bundles) std::cerr << "  " << digest << ".flb\n";
    return kExitFailed;
  }
  std::cout << "start it with: flotilla-server serve --data " << options.data.string() << "\n";
  return kExitOk;
}

}  // namespace

std::function<int()> add_commands(CLI::App& app) {
  auto backup_options = std::make_shared<BackupOptions>();
  auto restore_options = std::make_shared<RestoreOptions>();
  auto store_flag = std::make_shared<std::string>();
  auto* backup = app.add_subcommand(
      "backup", "Write a backup of a server on SQLite (its store copied online while it serves, the report key pair, the "
                "bundle index; docs/operations.md). Exit codes: 0 written, 1 failed, 2 usage");
  backup->add_option("--data", backup_options->data, "The server's data directory")->required();
  backup->add_option("--out", backup_options->out, "The backup file to write (must not exist; written 0600)")->required();
  backup->add_flag("--with-bundles", backup_options->with_bundles, "Include the bundle files (default: only their index)");
  backup->add_option("--bundle-dir", backup_options->bundle_dir, "Where bundle files live (default: DATA/bundles)");
  backup->add_option("--store", *store_flag, "The server's --store, if it has one (PostgreSQL: use pg_dump instead)");
  auto* restore = app.add_subcommand(
      "restore", "Make a new data directory from a backup: every member checked, the store migrated if older, the audit "
                 "chain verified. Exit codes: 0 restored, 1 failed or bundle files missing (listed), 2 usage");
  restore->add_option("--from", restore_options->from, "The backup file")->required()->check(CLI::ExistingFile);
  restore->add_option("--data", restore_options->data, "The new data directory (must not exist, or be empty)")->required();
  restore->add_option("--bundle-dir", restore_options->bundle_dir, "Where bundle files live (default: DATA/bundles)");
  return [=]() -> int {
    if (*backup) return run_backup(*backup_options, *store_flag);
    if (*restore) return run_restore(*restore_options);
    return -1;
  };
}

}  // namespace flotilla::server::backup
