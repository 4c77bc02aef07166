// flotilla compliance summary | export | verify (docs/compliance.md)
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "cli/report_verifier.hpp"
#include "cli/table.hpp"
#include "policy/compliance.hpp"

namespace flotilla::cli {
namespace {

// Every status name, least severe first, for tables and --status.
std::vector<std::string> status_names() {
  std::vector<std::string> out;
  for (auto status : policy::kAllStatuses) out.emplace_back(policy::status_name(status));
  return out;
}

struct Filters {
  std::string baseline, type, label, status;
  std::int64_t rollout = 0;

  void add_to(CLI::App& command, bool with_status) {
    command.add_option("--baseline", baseline, "Judge against this baseline (default: the highest published release)");
    command.add_option("--type", type, "Only devices of this type");
    command.add_option("--label", label, "Only devices with this label, KEY=VALUE");
    command.add_option("--rollout", rollout, "Only devices the rollout placed in a wave")->check(CLI::PositiveNumber);
    if (with_status) {
      command.add_option("--status", status, "Only devices with this status")
          ->check(CLI::IsMember(status_names()));
    }
  }
  std::string query(std::string first) const {
    std::string out;
    auto add = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      out += (out.empty() ? "?" : "&") + std::string(key) + "=" + url_encode(value);
    };
    if (!first.empty()) out = "?" + first;
    add("baseline", baseline);
    add("type", type);
    add("label", label);
    add("status", status);
    if (rollout > 0) add("rollout", std::to_string(rollout));
    return out;
  }
};

void print_summary(const common::Json& j) {
  const auto& summary = j["summary"];
  std::cout << "baseline: " << (j["baseline"].is_string() ? j["baseline"].get<std::string>() : "default (highest published release)")
            << "\ngenerated at: " << json_text(j, "generated_at") << "\ndevices: " << json_text(summary, "devices") << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& status : status_names()) rows.push_back({status, json_text(summary["by_status"], status.c_str())});
  print_table(std::cout, {"STATUS", "DEVICES"}, rows);
  std::vector<std::string> header = {"DEVICE TYPE"};
  for (const auto& status : status_names()) {
    std::string upper(status);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    header.push_back(upper);
  }
  rows.clear();
  for (const auto& [type, counts] : summary["by_device_type"].items()) {
    std::vector<std::string> row = {type};
    for (const auto& status : status_names()) row.push_back(json_text(counts, status.c_str()));
    rows.push_back(std::move(row));
  }
  std::cout << "\n";
  print_table(std::cout, header, rows);
}

}  // namespace

void add_compliance_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  auto* compliance = app.add_subcommand(
      "compliance", "Compliance of the fleet (docs/compliance.md): summary, export, and offline verify of signed reports");
  compliance->require_subcommand(1);
  auto filters = std::make_shared<Filters>();

  auto* summary = compliance->add_subcommand("summary", "Devices by status and by device type");
  filters->add_to(*summary, false);
  on_run(*summary, exit_code, [&server, filters] {
    return call(server, "GET", "/api/v1/compliance/summary" + filters->query(""), "", print_summary);
  });

  struct ExportOptions {
    std::string format = "json", out;
  };
  auto e = std::make_shared<ExportOptions>();
  auto* exp = compliance->add_subcommand("export", "Write a report: csv, json, signed (for auditors) or html (for people)");
  exp->add_option("--format", e->format, "csv, json, signed or html")->check(CLI::IsMember({"csv", "json", "signed", "html"}));
  exp->add_option("-o,--output", e->out, "Output file")->required();
  filters->add_to(*exp, true);
  on_run(*exp, exit_code, [&server, filters, e] {
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    ProgressBar bar("downloading", 1 << 20);
    auto response = client->download("/api/v1/compliance" + filters->query("format=" + e->format), e->out,
                                     [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
    if (!response) return report_failure(response.error());
    if (!response->ok()) return report_api_error(*response);
    std::cout << "wrote " << e->out << "\n";
    if (e->format == "signed") {
      std::cout << "next: flotilla trust report-key -o report-key.pub; flotilla compliance verify " << e->out
                << " --key report-key.pub\n";
    }
    return static_cast<int>(kExitOk);
  });

  struct VerifyOptions {
    std::string report, key;
  };
  auto v = std::make_shared<VerifyOptions>();
  auto* verify = compliance->add_subcommand(
      "verify", "Check a signed report offline: signature by the report key, structure, counts add up");
  verify->add_option("REPORT", v->report, "A signed report (compliance export --format signed)")->required()->check(CLI::ExistingFile);
  verify->add_option("--key", v->key, "The server's report public key (PEM)")->required()->check(CLI::ExistingFile);
  on_run(*verify, exit_code, [v, &server] {
    auto key = signing::load_public_key(v->key);
    if (!key) return report_failure(key.error());
    auto report = verify_report_file(v->report, *key);
    if (!report) return report_failure(report.error());
    if (server.json) {
      std::cout << common::Json{{"valid", true},
                                {"generated_at", report->generated_at},
                                {"baseline", report->baseline.empty() ? common::Json(nullptr) : common::Json(report->baseline)},
                                {"devices", report->devices},
                                {"rows", report->rows},
                                {"by_status", report->by_status},
                                {"audit_head", {{"seq", report->audit_seq}, {"hash", report->audit_hash}}},
                                {"key_id", report->key_id}}
                       .dump(2)
                << "\n";
      return static_cast<int>(kExitOk);
    }
    std::cout << "report valid: signed by report key " << report->key_id << "\n"
              << "generated at " << report->generated_at << ", baseline "
              << (report->baseline.empty() ? "default (highest published release)" : report->baseline) << "\n"
              << report->devices << " devices in " << report->rows << " rows; counts add up:";
    for (const auto& [status, n] : report->by_status) std::cout << " " << status << "=" << n;
    std::cout << "\naudit chain head: seq " << report->audit_seq << ", hash " << report->audit_hash << "\n"
              << "next: flotilla audit verify --file audit.jsonl --head " << report->audit_hash << "\n";
    return static_cast<int>(kExitOk);
  });
}

}  // namespace flotilla::cli
