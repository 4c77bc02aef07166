#include "server/backup/backup.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "server/store/audit_walk.hpp"
#include "server/store/sql_store.hpp"
#include "signing/digest.hpp"
#include "signing/key.hpp"

namespace flotilla::server::backup {
namespace fs = std::filesystem;
using common::Errc;

namespace {

constexpr const char* kManifestName = "backup.json";
constexpr const char* kStoreName = "flotilla.db";
constexpr const char* kBundleIndexName = "bundles.json";
constexpr const char* kReportKeyIdSetting = "report_key_id";
constexpr std::size_t kChunk = 1 << 20;
// backup.json and bundles.json are read whole: bounded.
constexpr std::uint64_t kMaxIndexBytes = 64ull << 20;

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

std::unexpected<common::Error> archive_failure(archive* a, const std::string& what) {
  const char* why = archive_error_string(a);
  return common::fail(Errc::kIo, what + (why ? std::string(": ") + why : std::string()));
}

// What the store holds, read from a copy of it.
struct StoreFacts {
  std::vector<BundleRecord> bundles;
  std::int64_t devices = 0;
  signing::ChainHead head;
};

common::Result<StoreFacts> read_facts(const fs::path& store_file) {
  auto store = SqlStore::open(store_file.string());
  if (!store) return std::unexpected(store.error());
  StoreFacts facts;
  auto bundles = (*store)->list_bundles();
  if (!bundles) return std::unexpected(bundles.error());
  facts.bundles = std::move(*bundles);
  auto devices = (*store)->count_devices_by_status();
  if (!devices) return std::unexpected(devices.error());
  for (const auto& [status, count] : *devices) facts.devices += count;
  auto head = (*store)->audit_head();
  if (!head) return std::unexpected(head.error());
  facts.head = *head;
  return facts;
}

struct Member {
  std::string name;
  fs::path source;       // a file, or
  std::string contents;  // the bytes themselves when source is empty
};

class TarWriter {
 public:
  static common::Result<TarWriter> open(const fs::path& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return common::fail(Errc::kIo, "cannot create " + path.string() + ": " + std::strerror(errno));
    ArchivePtr a(archive_write_new(), &archive_write_free);
    archive_write_set_format_pax_restricted(a.get());
    archive_write_set_bytes_in_last_block(a.get(), 1);
    if (archive_write_open_fd(a.get(), fd) != ARCHIVE_OK) {
      ::close(fd);
      return archive_failure(a.get(), "writing " + path.string());
    }
    return TarWriter(std::move(a), fd);
  }

  // Adds `member`, returning its SHA-256 and size.
  common::Result<std::pair<std::string, std::uint64_t>> add(const Member& member, const Progress& progress) {
    std::uint64_t size = member.source.empty() ? member.contents.size() : fs::file_size(member.source);
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), &archive_entry_free);
    archive_entry_set_pathname(entry.get(), member.name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0600);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(entry.get(), ::time(nullptr), 0);
    if (archive_write_header(archive_.get(), entry.get()) != ARCHIVE_OK) {
      return archive_failure(archive_.get(), "writing the header of " + member.name);
    }
    signing::Sha256 hash;
    auto write = [&](const char* data, std::size_t n) -> common::Status {
      hash.update(std::span(reinterpret_cast<const std::uint8_t*>(data), n));
      if (archive_write_data(archive_.get(), data, n) != static_cast<la_ssize_t>(n)) {
        return archive_failure(archive_.get(), "writing " + member.name);
      }
      return {};
    };
    if (member.source.empty()) {
      if (auto ok = write(member.contents.data(), member.contents.size()); !ok) return std::unexpected(ok.error());
    } else {
      std::ifstream in(member.source, std::ios::binary);
      if (!in) return common::fail(Errc::kIo, "cannot read " + member.source.string());
      std::vector<char> buffer(kChunk);
      std::uint64_t done = 0;
      while (done < size) {
        in.read(buffer.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(kChunk, size - done)));
        auto n = static_cast<std::size_t>(in.gcount());
        if (n == 0) return common::fail(Errc::kIo, member.source.string() + " shrank while it was being backed up");
        if (auto ok = write(buffer.data(), n); !ok) return std::unexpected(ok.error());
        done += n;
        if (progress) progress("writing " + member.name, static_cast<std::int64_t>(done), static_cast<std::int64_t>(size));
      }
    }
    return std::pair{hash.finish_hex(), size};
  }

  common::Status close() {
    if (archive_write_close(archive_.get()) != ARCHIVE_OK) return archive_failure(archive_.get(), "finishing the backup");
    if (::fsync(fd_) != 0) return common::fail(Errc::kIo, std::string("syncing the backup: ") + std::strerror(errno));
    return {};
  }

  TarWriter(TarWriter&& other) noexcept : archive_(std::move(other.archive_)), fd_(std::exchange(other.fd_, -1)) {}
  TarWriter& operator=(TarWriter&&) = delete;
  ~TarWriter() {
    if (archive_) archive_write_free(archive_.release());
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  TarWriter(ArchivePtr a, int fd) : archive_(std::move(a)), fd_(fd) {}
  ArchivePtr archive_;
  int fd_ = -1;
};

// Removes what a failed restore created: the files it wrote, and the data
// directory itself when it made it.
class RestoreCleanup {
 public:
  RestoreCleanup(fs::path data, bool created_data) : data_(std::move(data)), created_data_(created_data) {}
  void add(const fs::path& path) { created_.push_back(path); }
  void keep() { kept_ = true; }
  ~RestoreCleanup() {
    if (kept_) return;
    std::error_code ec;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) fs::remove_all(*it, ec);
    if (created_data_) fs::remove_all(data_, ec);
  }

 private:
  fs::path data_;
  bool created_data_;
  std::vector<fs::path> created_;
  bool kept_ = false;
};

bool is_bundle_member(const std::string& name) {
  static const std::regex kForm("^bundles/[0-9a-f]{64}\\.flb$");
  return std::regex_match(name, kForm);
}

}  // namespace

common::Result<fs::path> copy_store(Store& store, const fs::path& data, const std::string& actor, const Progress& progress) {
  auto dir = data / "backups";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return common::fail(Errc::kIo, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  // Absolute: the path is the answer to a command that may run elsewhere.
  auto path = fs::absolute(dir / ("store-" + common::to_hex(signing::random_bytes(8)) + ".db"));
  // Recorded first, so the backup holds its own making.
  if (auto entry = store.append_audit({actor, "store.backup", "store", "ok", {{"copy", path.filename().string()}}}); !entry) {
    return std::unexpected(entry.error());
  }
  auto copied = store.copy_to(path.string(), [&](int done, int total) {
    if (progress) progress("copying the store (pages)", done, total);
  });
  if (!copied) {
    fs::remove(path, ec);
    return std::unexpected(copied.error().with_context("copying the store"));
  }
  return path;
}

common::Result<BackupSummary> write_backup(const BackupOptions& options, const fs::path& store_copy, const Progress& progress) {
  auto facts = read_facts(store_copy);
  if (!facts) return std::unexpected(facts.error().with_context("reading the copied store"));
  const fs::path bundle_dir = options.bundle_dir.empty() ? options.data / "bundles" : options.bundle_dir;

  std::vector<Member> members = {{kStoreName, store_copy, {}},
                                 {"report.key", options.data / "report.key", {}},
                                 {"report.pub", options.data / "report.pub", {}}};
  common::Json index = common::Json::array();
  for (const auto& b : facts->bundles) {
    index.push_back({{"file_sha256", b.file_sha256}, {"size", b.size}, {"name", b.name}, {"version", b.version}});
  }
  members.push_back({kBundleIndexName, {}, index.dump(1) + "\n"});
  if (options.with_bundles) {
    for (const auto& b : facts->bundles) {
      auto file = bundle_dir / (b.file_sha256 + ".flb");
      if (!fs::exists(file)) return common::fail(Errc::kNotFound, "the store names bundle " + b.file_sha256 + " but " + file.string() + " is missing");
      members.push_back({"bundles/" + b.file_sha256 + ".flb", file, {}});
    }
  }
  for (const auto& m : members) {
    if (!m.source.empty() && !fs::is_regular_file(m.source)) return common::fail(Errc::kNotFound, m.source.string() + " is missing");
  }

  auto partial = options.out;
  partial += ".part";
  std::error_code ec;
  fs::remove(partial, ec);
  common::PartialFiles cleanup({partial});
  auto writer = TarWriter::open(partial);
  if (!writer) return std::unexpected(writer.error());
  common::Json listed = common::Json::array();
  BackupSummary summary{.devices = facts->devices,
                        .bundles = static_cast<std::int64_t>(facts->bundles.size()),
                        .audit_entries = facts->head.seq,
                        .audit_head_hash = facts->head.hash};
  for (const auto& m : members) {
    auto added = writer->add(m, progress);
    if (!added) return std::unexpected(added.error());
    listed.push_back({{"name", m.name}, {"sha256", added->first}, {"size", added->second}});
    summary.bytes += added->second;
  }
  common::Json manifest = {{"format", kFormat},
                           {"version", kFormatVersion},
                           {"created_at", common::format_rfc3339(common::now_utc())},
                           {"devices", summary.devices},
                           {"bundles", summary.bundles},
                           {"bundle_files_included", options.with_bundles},
                           {"audit_head", {{"seq", facts->head.seq}, {"hash", facts->head.hash}}},
                           {"members", listed}};
  if (auto added = writer->add({kManifestName, {}, manifest.dump(1) + "\n"}, nullptr); !added) return std::unexpected(added.error());
  if (auto ok = writer->close(); !ok) return std::unexpected(ok.error());
  fs::rename(partial, options.out, ec);
  if (ec) return common::fail(Errc::kIo, "cannot move the backup to " + options.out.string() + ": " + ec.message());
  cleanup.keep();
  return summary;
}

common::Result<RestoreSummary> restore(const RestoreOptions& options, const Progress& progress) {
  const fs::path& data = options.data;
  std::error_code ec;
  if (fs::exists(data) && !(fs::is_directory(data) && fs::is_empty(data))) {
    return common::fail(Errc::kConflict, data.string() + " exists and is not empty; restore into a new directory");
  }
  const bool created_data = !fs::exists(data);
  fs::create_directories(data, ec);
  if (ec) return common::fail(Errc::kIo, "cannot create " + data.string() + ": " + ec.message());
  fs::permissions(data, fs::perms::owner_all, ec);  // as `init` makes it: it will hold the report key
  RestoreCleanup cleanup(data, created_data);
  const fs::path bundle_dir = options.bundle_dir.empty() ? data / "bundles" : options.bundle_dir;
  if (!fs::exists(bundle_dir)) {
    fs::create_directories(bundle_dir, ec);
    if (ec) return common::fail(Errc::kIo, "cannot create " + bundle_dir.string() + ": " + ec.message());
    cleanup.add(bundle_dir);
  }

  ArchivePtr reader(archive_read_new(), &archive_read_free);
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_filename(reader.get(), options.from.c_str(), kChunk) != ARCHIVE_OK) {
    return archive_failure(reader.get(), "opening " + options.from.string());
  }
  std::map<std::string, std::pair<std::string, std::uint64_t>> seen;  // name -> sha256, size
  std::string manifest_text;
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(reader.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) return archive_failure(reader.get(), "reading " + options.from.string());
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    if (archive_entry_filetype(entry) != AE_IFREG) return common::fail(Errc::kBadField, "member " + name + ": not a regular file");
    if (seen.contains(name)) return common::fail(Errc::kBadField, "member " + name + " appears twice");
    const bool in_memory = name == kManifestName;
    fs::path target;
    if (name == kStoreName || name == "report.key" || name == "report.pub") {
      target = data / name;
    } else if (name == kBundleIndexName) {
      // Checked against backup.json, not kept: the store itself lists its bundles.
    } else if (is_bundle_member(name)) {
      target = bundle_dir / fs::path(name).filename();
      if (fs::exists(target)) target.clear();  // already there: checked below like any other
    } else if (!in_memory) {
      return common::fail(Errc::kBadField, "member " + name + " is not part of a Flotilla backup");
    }
    std::ofstream out;
    if (!target.empty()) {
      out.open(target, std::ios::binary | std::ios::trunc);
      if (!out) return common::fail(Errc::kIo, "cannot write " + target.string());
      cleanup.add(target);
      if (name == "report.key") fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write, ec);
    }
    signing::Sha256 hash;
    std::uint64_t size = 0;
    const std::int64_t declared = archive_entry_size(entry);
    for (;;) {
      const void* block = nullptr;
      size_t length = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(reader.get(), &block, &length, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK) return archive_failure(reader.get(), "reading member " + name);
      if (static_cast<std::uint64_t>(offset) != size) return common::fail(Errc::kBadField, "member " + name + " has holes");
      auto bytes = std::span(static_cast<const std::uint8_t*>(block), length);
      hash.update(bytes);
      size += length;
      if (in_memory) {
        if (size > kMaxIndexBytes) return common::fail(Errc::kTooLarge, "member " + name + " is larger than " + std::to_string(kMaxIndexBytes) + " bytes");
        manifest_text.append(static_cast<const char*>(block), length);
      } else if (out.is_open()) {
        out.write(static_cast<const char*>(block), static_cast<std::streamsize>(length));
        if (!out) return common::fail(Errc::kIo, "cannot write " + target.string());
      }
      if (progress && declared > 0) progress("restoring " + name, static_cast<std::int64_t>(size), declared);
    }
    if (out.is_open()) {
      out.close();
      if (!out) return common::fail(Errc::kIo, "cannot write " + target.string());
    }
    std::string digest = hash.finish_hex();
    if (is_bundle_member(name) && name.substr(8, 64) != digest) {
      return common::fail(Errc::kBadField, "member " + name + " is not the bundle its name says (its SHA-256 is " + digest + ")");
    }
    seen[name] = {digest, size};
  }

  // Every member as backup.json lists it, and nothing else.
  if (manifest_text.empty()) return common::fail(Errc::kBadField, options.from.string() + " has no backup.json: not a Flotilla backup, or cut short");
  auto manifest = common::parse_json_strict(manifest_text);
  if (!manifest) return std::unexpected(manifest.error().with_context("backup.json"));
  if (!manifest->is_object() || manifest->value("format", "") != kFormat) return common::fail(Errc::kBadField, "backup.json: format is not " + std::string(kFormat));
  if (!(*manifest)["version"].is_number_integer() || (*manifest)["version"].get<int>() != kFormatVersion) {
    return common::fail(Errc::kBadField, "backup.json: version " + (*manifest)["version"].dump() + " is not one this program reads (" + std::to_string(kFormatVersion) + ")");
  }
  const auto& listed = (*manifest)["members"];
  if (!listed.is_array()) return common::fail(Errc::kBadField, "backup.json: members must be an array");
  std::set<std::string> expected;
  for (const auto& m : listed) {
    if (!m.is_object() || !m["name"].is_string() || !m["sha256"].is_string() || !m["size"].is_number_unsigned()) {
      return common::fail(Errc::kBadField, "backup.json: members[]: each needs name, sha256 and size");
    }
    std::string name = m["name"];
    auto found = seen.find(name);
    if (found == seen.end()) return common::fail(Errc::kBadField, "member " + name + " is listed in backup.json but missing: the backup is incomplete");
    if (found->second.first != m["sha256"].get<std::string>() || found->second.second != m["size"].get<std::uint64_t>()) {
      return common::fail(Errc::kBadField, "member " + name + " does not match its SHA-256 in backup.json: the backup was damaged or altered");
    }
    expected.insert(name);
  }
  for (const auto& [name, digest] : seen) {
    if (name != kManifestName && !expected.contains(name)) return common::fail(Errc::kBadField, "member " + name + " is not listed in backup.json");
  }
  for (const char* required : {kStoreName, "report.key", "report.pub"}) {
    if (!expected.contains(required)) return common::fail(Errc::kBadField, std::string("the backup has no ") + required);
  }

  // The store: migrated if older, its audit chain whole up to the head the
  // backup recorded, signed by the report key beside it.
  RestoreSummary summary;
  summary.created_at = manifest->value("created_at", "");
  {
    auto store = SqlStore::open((data / kStoreName).string());
    if (!store) return std::unexpected(store.error().with_context("opening the restored store"));
    auto verified = verify_audit_chain(**store);
    if (!verified) return std::unexpected(verified.error().with_context("the restored audit chain"));
    const auto& head = (*manifest)["audit_head"];
    if (!head.is_object() || head.value("seq", std::int64_t{-1}) != verified->head().seq || head.value("hash", "") != verified->head().hash) {
      return common::fail(Errc::kBadField, "the restored audit chain ends at entry " + std::to_string(verified->head().seq) +
                                               ", not where backup.json says the backup ends (" + head.dump() + ")");
    }
    auto recorded = (*store)->setting(kReportKeyIdSetting);
    if (!recorded) return std::unexpected(recorded.error());
    auto key = signing::load_private_key((data / "report.key").string());
    if (!key) return std::unexpected(key.error().with_context("report.key"));
    if (*recorded && key->key_id() != **recorded) {
      return common::fail(Errc::kBadField, "report.key is not the key the store records (" + **recorded + ")");
    }
    auto facts = (*store)->list_bundles();
    if (!facts) return std::unexpected(facts.error());
    for (const auto& b : *facts) {
      auto file = bundle_dir / (b.file_sha256 + ".flb");
      if (!fs::is_regular_file(file) || fs::file_size(file) != static_cast<std::uintmax_t>(b.size)) summary.missing_bundles.push_back(b.file_sha256);
    }
    auto devices = (*store)->count_devices_by_status();
    if (!devices) return std::unexpected(devices.error());
    for (const auto& [status, count] : *devices) summary.backup.devices += count;
    summary.backup.bundles = static_cast<std::int64_t>(facts->size());
    auto recorded_restore = (*store)->append_audit({"local:restore", "store.restore", "store", "ok",
                                         {{"backup_created_at", summary.created_at},
                                          {"backup_audit_head", head},
                                          {"missing_bundle_files", summary.missing_bundles.size()}}});
    if (!recorded_restore) return std::unexpected(recorded_restore.error());
    summary.backup.audit_entries = recorded_restore->seq;
    summary.backup.audit_head_hash = recorded_restore->hash;
  }
  cleanup.keep();
  return summary;
}

}  // namespace flotilla::server::backup
