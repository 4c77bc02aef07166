#include "server/compliance/export.hpp"

#include "server/compliance/rules.hpp"
#include "signing/digest.hpp"
#include "signing/dsse.hpp"
#include "signing/dsse_file.hpp"
#include "common/encoding.hpp"
#include "common/file.hpp"

namespace flotilla::server::compliance {
namespace {

constexpr std::int64_t kPage = 1000;

// Walks the accepted devices the query selects, a page at a time, with
// each device's verdict and rows.
using DeviceFn = std::function<common::Status(const DeviceRows& rows)>;

common::Status walk(Store& store, Rules& rules, const ReportQuery& query, std::optional<std::string> device_id,
                    common::TimePoint now, const DeviceFn& each) {
  ComplianceScan scan{.device_id = std::move(device_id), .rollout_id = query.rollout_id,
                      .device_type = query.device_type, .label = query.label, .limit = kPage};
  for (;;) {
    auto page = store.scan_compliance(scan);
    if (!page) return std::unexpected(page.error());
    for (const auto& device : *page) {
      auto verdict = verdict_of(device, rules, now);
      if (query.status && *query.status != policy::status_name(verdict.status)) continue;
      auto rows = rows_of(device, rules.requirements_for(device.device_type), std::move(verdict));
      if (auto ok = each(rows); !ok) return ok;
    }
    if (static_cast<std::int64_t>(page->size()) < kPage) return {};
    scan.after_key = page->back().key;
  }
}

std::string random_name() { return common::to_hex(signing::random_bytes(12)); }

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "csv") return Format::kCsv;
  if (name == "signed") return Format::kSigned;
  if (name == "html") return Format::kHtml;
  return std::nullopt;
}

std::string_view file_extension(Format format) {
  switch (format) {
    case Format::kJson: return "json";
    case Format::kCsv: return "csv";
    case Format::kSigned: return "signed.json";
    case Format::kHtml: return "html";
  }
  return "bin";
}

std::string_view content_type(Format format) {
  switch (format) {
    case Format::kJson: return "application/json";
    case Format::kCsv: return "text/csv; charset=utf-8";
    case Format::kSigned: return "application/vnd.flotilla.report+dsse+json";
    case Format::kHtml: return "text/html; charset=utf-8";
  }
  return "application/octet-stream";
}

common::Json ReportQuery::filters_json() const {
  common::Json out = common::Json::object();
  if (device_type) out["device_type"] = *device_type;
  if (label) out["label"] = label->first + "=" + label->second;
  if (status) out["status"] = *status;
  if (rollout_id) out["rollout"] = *rollout_id;
  return out;
}

namespace {

common::Result<ExportedReport> write_report(Store& store, Rules& rules, const ReportQuery& query, Format format,
                                            const signing::PrivateKey* report_key, common::TimePoint now,
                                            const std::filesystem::path& work_dir) {
  auto baseline_name = rules.description()["name"];
  ReportHeader header{.generated_at = common::format_rfc3339(now), .baseline = rules.description(),
                      .baseline_name = baseline_name.is_string() ? baseline_name.get<std::string>() : "",
                      .filters = query.filters_json(), .report_key_id = report_key ? report_key->key_id() : ""};
  std::filesystem::create_directories(work_dir);
  auto name = random_name();
  auto out = work_dir / ("report-" + name);
  auto scratch = work_dir / ("scratch-" + name);
  // Removed unless handed over, on an error or an exception alike (one
  // leftover per failed request would let a reader fill the disk).
  // Declared before the writer, so the writer has closed its files first.
  common::PartialFiles partial({out, scratch});
  std::unique_ptr<ReportWriter> writer;
  switch (format) {
    case Format::kJson: writer = json_writer(header, out); break;
    case Format::kSigned: writer = signed_json_writer(header, out, *report_key); break;
    case Format::kCsv: writer = csv_writer(header, out); break;
    case Format::kHtml: writer = html_writer(header, out, scratch); break;
  }
  ExportedReport report;
  auto walked = walk(store, rules, query, std::nullopt, now,
                     [&](const DeviceRows& rows) {
                       report.summary.add(rows.device->device_type, rows.status, rows.size());
                       return writer->device(rows);
                     });
  if (!walked) return std::unexpected(walked.error());
  // Read after the last row: every change the rows show is in the chain up to here.
  auto head = store.audit_head();
  if (!head) return std::unexpected(head.error());
  if (auto ok = writer->finish(report.summary, {{"seq", head->seq}, {"hash", head->hash}}); !ok) return std::unexpected(ok.error());
  writer.reset();
  partial.keep();
  report.file = out;
  return report;
}

}  // namespace

common::Result<ExportedReport> export_report(Store& store, const ReportQuery& query, Format format,
                                             const signing::PrivateKey* report_key, common::TimePoint now,
                                             const std::filesystem::path& work_dir) {
  if (format == Format::kSigned && report_key == nullptr) {
    return common::fail(common::Errc::kIo, "the server has no report key to sign with");
  }
  auto rules = Rules::load(store, query.baseline);
  if (!rules) return std::unexpected(rules.error());
  // The JSON library and the file system throw; no exception leaves here.
  try {
    return write_report(store, *rules, query, format, report_key, now, work_dir);
  } catch (const std::exception& e) {
    return common::fail(common::Errc::kIo, std::string("writing the compliance report: ") + e.what());
  }
}

common::Result<Summary> summarize(Store& store, const ReportQuery& query, common::TimePoint now) {
  auto rules = Rules::load(store, query.baseline);
  if (!rules) return std::unexpected(rules.error());
  Summary summary;
  auto walked = walk(store, *rules, query, std::nullopt, now,
                     [&](const DeviceRows& rows) {
                       summary.add(rows.device->device_type, rows.status, rows.size());
                       return common::Status{};
                     });
  if (!walked) return std::unexpected(walked.error());
  return summary;
}

common::Result<std::optional<common::Json>> device_compliance(Store& store, const std::string& device_id,
                                                              const std::optional<std::string>& baseline,
                                                              common::TimePoint now) {
  auto rules = Rules::load(store, baseline);
  if (!rules) return std::unexpected(rules.error());
  std::optional<common::Json> found;
  auto walked = walk(store, *rules, ReportQuery{}, device_id, now,
                     [&](const DeviceRows& rows) {
                       common::Json components = common::Json::array();
                       for (std::size_t i = 0; i < rows.requirements->size(); ++i) {
                         common::Json component = common::Json::object();
                         for (auto column : {kComponent, kStatus, kReason, kInstalledVersion, kRequiredVersion, kDeadline}) {
                           component[kColumnNames[column]] = cell_json(rows, i, column);
                         }
                         components.push_back(std::move(component));
                       }
                       found = common::Json{{"status", rows.status},
                                            {"baseline", rules->description().value("name", common::Json(nullptr))},
                                            {"components", std::move(components)}};
                       return common::Status{};
                     });
  if (!walked) return std::unexpected(walked.error());
  return found;
}

}  // namespace flotilla::server::compliance
