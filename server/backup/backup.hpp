// Backups of a server on SQLite, and their restore (docs/operations.md).
//
// A backup is one tar file: the store copied online (flotilla.db), the
// fleet's report key pair, the index of the bundle files the store names
// (bundles.json), optionally those files, and last backup.json: what the
// backup holds (the audit head, counts) and the SHA-256 of every member.
// It holds the report private key: it is written 0600, and kept like the
// data directory itself.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "server/store/store.hpp"

namespace flotilla::server::backup {

inline constexpr const char* kFormat = "flotilla-backup";
inline constexpr int kFormatVersion = 1;

// Progress of long work: what is being done, done and total in its unit.
using Progress = std::function<void(const std::string& what, std::int64_t done, std::int64_t total)>;

// Copies the store, online, into a new file under DATA/backups/ and returns
// its path; the copy records its own making in the audit log. `actor`
// names who asked.
common::Result<std::filesystem::path> copy_store(Store& store, const std::filesystem::path& data, const std::string& actor,
                                                 const Progress& progress);

struct BackupOptions {
  std::filesystem::path data;
  std::filesystem::path bundle_dir;  // empty: DATA/bundles
  std::filesystem::path out;
  bool with_bundles = false;
};

struct BackupSummary {
  std::int64_t devices = 0;
  std::int64_t bundles = 0;
  std::int64_t audit_entries = 0;
  std::string audit_head_hash;
  std::uint64_t bytes = 0;
};

// Writes the backup from `store_copy` (made by copy_store) and the data
// directory's keys; `out` appears only when complete.
common::Result<BackupSummary> write_backup(const BackupOptions& options, const std::filesystem::path& store_copy,
                                           const Progress& progress);

struct RestoreOptions {
  std::filesystem::path from;
  std::filesystem::path data;        // must not exist, or be empty
  std::filesystem::path bundle_dir;  // empty: DATA/bundles
};

struct RestoreSummary {
  BackupSummary backup;
  std::string created_at;
  std::vector<std::string> missing_bundles;  // file digests the store names that are not in the bundle directory
};

// Unpacks the backup into a new data directory, checks every member
// against backup.json, opens the store (migrating it if it is older than
// this program), verifies the whole audit chain up to the head the backup
// recorded, and records the restore in the audit log. On failure the data
// directory is left as it was found.
common::Result<RestoreSummary> restore(const RestoreOptions& options, const Progress& progress);

}  // namespace flotilla::server::backup
