// `flotilla bundles sync-mirror DIR`: writes every bundle on the server
// into DIR as <file_sha256>.flb, for a static HTTP server or CDN that
// flotilla-server --bundle-base-url points devices at (docs/scale-out.md).
//
// A mirror is not trusted by devices (every byte is checked against the
// release signature and the offered bundle id), but a mirror serving the
// wrong bytes makes installs fail: so each file is checked against its
// digest before it takes its name, and a file is never visible half
// written (it arrives under a temporary name and is renamed).
#include <iostream>
#include <regex>
#include <set>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "signing/digest.hpp"

namespace flotilla::cli {
namespace {

namespace fs = std::filesystem;

struct MirrorOptions {
  std::string dir;
  bool verify_existing = false;
  bool delete_others = false;
};

bool is_bundle_file_name(const std::string& name) {
  static const std::regex pattern("[0-9a-f]{64}\\.flb");
  return std::regex_match(name, pattern);
}

// Fetches one bundle into `target` through a temporary name; true when
// it arrived with the right digest.
common::Result<void> fetch(ApiClient& client, const std::string& digest, const fs::path& target) {
  auto incoming = target.parent_path() / ("." + digest + ".flb.incoming");
  ProgressBar bar("fetching " + digest.substr(0, 16));
  auto response = client.download("/api/v1/bundles/" + digest + "/file", incoming,
                                  [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  if (!response) return std::unexpected(response.error());
  if (!response->ok()) {
    return common::fail(common::Errc::kIo, "the server answered HTTP " + std::to_string(response->status) + ": " +
                                               response->body.substr(0, 200));
  }
  auto got = signing::sha256_file_hex(incoming);
  std::error_code ec;
  if (!got || *got != digest) {
    fs::remove(incoming, ec);
    return common::fail(common::Errc::kIo, got ? "the file arrived with digest " + *got + ", not " + digest
                                              : got.error().message());
  }
  fs::rename(incoming, target, ec);
  if (ec) return common::fail(common::Errc::kIo, target.string() + ": " + ec.message());
  return {};
}

int sync_mirror(const ServerOptions& server, const MirrorOptions& options) {
  fs::path dir = options.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) return report_failure(common::Error(common::Errc::kIo, dir.string() + ": not a directory"));
  auto client = connect(server);
  if (!client) return report_failure(client.error());
  auto listed = client->request("GET", "/api/v1/bundles");
  if (!listed) return report_failure(listed.error());
  if (!listed->ok()) return report_api_error(*listed);
  auto bundles = listed->json()["bundles"];
  if (!bundles.is_array()) return report_failure(common::Error(common::Errc::kBadJson, "the server's bundle list is not a list"));

  int fetched = 0, present = 0, removed = 0, failed = 0;
  std::set<std::string> wanted;
  for (const auto& b : bundles) {
    std::string digest = json_text(b, "file_sha256");
    if (!is_bundle_file_name(digest + ".flb")) continue;  // never a path from the server unchecked
    wanted.insert(digest + ".flb");
    auto target = dir / (digest + ".flb");
    std::string label = json_text(b, "name") + " " + json_text(b, "version") + " (" + digest.substr(0, 16) + ")";
    bool have = fs::exists(target) && b.contains("size") && b["size"].is_number_integer() &&
                fs::file_size(target, ec) == b["size"].get<std::uint64_t>();
    if (have && options.verify_existing) {
      auto got = signing::sha256_file_hex(target);
      have = got && *got == digest;
      if (!have) std::cerr << label << ": the mirror's copy is damaged; fetching it again\n";
    }
    if (have) {
      ++present;
      continue;
    }
    if (auto ok = fetch(*client, digest, target); !ok) {
      std::cerr << "flotilla: error: " << label << ": " << ok.error().describe() << "\n";
      ++failed;
      continue;
    }
    std::cout << "fetched " << label << "\n";
    ++fetched;
  }
  if (options.delete_others) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      auto name = entry.path().filename().string();
      if (!is_bundle_file_name(name) || wanted.contains(name)) continue;
      if (fs::remove(entry.path(), ec)) {
        std::cout << "removed " << name << " (no longer on the server)\n";
        ++removed;
      }
    }
  }
  std::cout << fetched << " fetched, " << present << " already present" << (options.delete_others ? ", " + std::to_string(removed) + " removed" : "")
            << (failed ? ", " + std::to_string(failed) + " failed" : "") << "; serve " << dir.string()
            << " and start flotilla-server with --bundle-base-url URL\n";
  return failed ? kExitFailed : kExitOk;
}

}  // namespace

void add_mirror_command(CLI::App& bundles, int& exit_code, const ServerOptions& server) {
  auto options = std::make_shared<MirrorOptions>();
  auto* sync = bundles.add_subcommand(
      "sync-mirror",
      "Write every bundle on the server into DIR as <file_sha256>.flb, for a static HTTP server or CDN that "
      "`flotilla-server --bundle-base-url` points devices at; each file is checked against its digest");
  sync->add_option("DIR", options->dir, "The mirror's directory (created if missing)")->required();
  sync->add_flag("--verify", options->verify_existing, "Re-hash files already in DIR and fetch damaged ones again");
  sync->add_flag("--delete", options->delete_others, "Remove <digest>.flb files of bundles no longer on the server");
  on_run(*sync, exit_code, [&server, options] { return sync_mirror(server, *options); });
}

}  // namespace flotilla::cli
