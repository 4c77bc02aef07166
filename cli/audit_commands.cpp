// flotilla audit list | export | verify
#include <fstream>
#include <iostream>
#include <optional>
#include <unistd.h>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "cli/table.hpp"
#include "common/file.hpp"
#include "signing/audit_chain.hpp"

namespace flotilla::cli {

namespace {

// Verifies JSON Lines text; prints the head or the first bad entry. With
// an expected head (a signed report's), the chain must pass through it:
// the log up to the report is intact, and entries after it are the log
// having gone on since.
int verify_lines(std::istream& in, const std::string& expected_head) {
  signing::AuditChainVerifier verifier;
  std::optional<std::int64_t> head_seq;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (auto ok = verifier.add_line(line); !ok) {
      std::cerr << "flotilla: audit chain broken at " << ok.error().message() << "\n";
      return kExitFailed;
    }
    if (verifier.head().hash == expected_head) head_seq = verifier.head().seq;
  }
  if (!expected_head.empty() && !head_seq) {
    std::cerr << "flotilla: the chain (" << verifier.head().seq << " entries, head " << verifier.head().hash
              << ") never reaches the expected head " << expected_head
              << ": entries the report covered are missing or were rewritten\n";
    return kExitFailed;
  }
  std::cout << "audit chain valid: " << verifier.head().seq << " entries, head " << verifier.head().hash << "\n";
  if (head_seq) {
    std::cout << "expected head found at seq " << *head_seq << " (" << verifier.head().seq - *head_seq
              << " entries after it)\n";
  }
  return kExitOk;
}

// Downloads the export to `file` (streamed; the log can be large).
common::Status fetch_export(const ServerOptions& server, const std::filesystem::path& file) {
  auto client = connect(server);
  if (!client) return std::unexpected(client.error());
  ProgressBar bar("downloading", 1 << 20);
  auto response = client->download("/api/v1/audit/export", file,
                                   [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  if (!response) return std::unexpected(response.error());
  if (!response->ok()) {
    report_api_error(*response);
    return common::fail(common::Errc::kIo, "the server refused the export");
  }
  return {};
}

}  // namespace

void add_audit_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  auto* audit = app.add_subcommand("audit", "The tamper-evident audit log: list, export, verify");
  audit->require_subcommand(1);
  struct Options {
    std::int64_t after = 0, limit = 50;
    std::string file, head, out;
  };
  auto o = std::make_shared<Options>();

  auto* list = audit->add_subcommand("list", "List entries, oldest first");
  list->add_option("--after", o->after, "Only entries after this sequence number");
  list->add_option("--limit", o->limit, "At most this many (1-1000)")->check(CLI::Range(1, 1000));
  on_run(*list, exit_code, [&server, o] {
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    auto response = client->request("GET", "/api/v1/audit?after=" + std::to_string(o->after) +
                                                "&limit=" + std::to_string(o->limit));
    if (!response) return report_failure(response.error());
    if (!response->ok()) return report_api_error(*response);
    auto j = response->json();
    if (server.json) {
      std::cout << j.dump(2) << "\n";
      return static_cast<int>(kExitOk);
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : j["entries"]) {
      rows.push_back({std::to_string(e.value("seq", 0)), e.value("time", ""), e.value("actor", ""),
                      e.value("action", ""), e.value("object", "").substr(0, 40), e.value("outcome", "")});
    }
    print_table(std::cout, {"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME"}, rows);
    return static_cast<int>(kExitOk);
  });

  auto* exp = audit->add_subcommand("export", "Write the whole log as JSON Lines (each entry with its hash)");
  exp->add_option("-o,--output", o->out, "Output file")->required();
  on_run(*exp, exit_code, [&server, o] {
    if (auto ok = fetch_export(server, o->out); !ok) return report_failure(ok.error());
    std::cout << "wrote " << o->out << "\n";
    return static_cast<int>(kExitOk);
  });

  auto* verify = audit->add_subcommand(
      "verify", "Recompute the hash chain: of an export file offline (--file), or of the server's log");
  verify->add_option("--file", o->file, "A JSON Lines export; no server needed")->check(CLI::ExistingFile);
  verify->add_option("--head", o->head, "A head hash the chain must pass through (a signed report's audit_head)");
  on_run(*verify, exit_code, [&server, o] {
    if (!o->file.empty()) {
      std::ifstream in(o->file);
      return verify_lines(in, o->head);
    }
    // The server's log: downloaded to a temporary file, checked, removed.
    auto file = std::filesystem::temp_directory_path() /
                ("flotilla-audit-" + std::to_string(::getpid()) + ".jsonl");
    if (auto ok = fetch_export(server, file); !ok) return report_failure(ok.error());
    std::ifstream in(file);
    int result = verify_lines(in, o->head);
    std::error_code ec;
    std::filesystem::remove(file, ec);
    return result;
  });
}

}  // namespace flotilla::cli
