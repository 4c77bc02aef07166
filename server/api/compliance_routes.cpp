// Compliance (DESIGN.md §9): GET /api/v1/compliance (a report in JSON,
// CSV, signed JSON or HTML, streamed from a file the export writes page by
// page), GET /api/v1/compliance/summary (counts only), and the public
// half of the report key at GET /api/v1/trust/report-key.
#include <charconv>

#include "common/log.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"
#include "server/compliance/export.hpp"

namespace flotilla::server::api {
namespace {

// The query a report is filtered by, every parameter checked by name.
std::expected<compliance::ReportQuery, http::Response> report_query(const http::Request& request, bool allow_format) {
  compliance::ReportQuery query;
  std::vector<FieldError> errors;
  for (const auto& [key, value] : request.query) {
    if (key == "baseline") {
      query.baseline = value;
    } else if (key == "type") {
      query.device_type = value;
    } else if (key == "label") {
      auto eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        errors.push_back({"label", "must be KEY=VALUE"});
      } else {
        query.label = std::make_pair(value.substr(0, eq), value.substr(eq + 1));
      }
    } else if (key == "status") {
      if (!policy::parse_status(value)) {
        errors.push_back({"status", "must be one of compliant, pending, outdated, overdue, failed, stale, tampered, unknown"});
      } else {
        query.status = value;
      }
    } else if (key == "rollout") {
      std::int64_t id = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
      if (ec != std::errc() || end != value.data() + value.size() || id <= 0) {
        errors.push_back({"rollout", "must be a rollout id"});
      } else {
        query.rollout_id = id;
      }
    } else if (key == "format" && allow_format) {
      if (!compliance::parse_format(value)) errors.push_back({"format", "must be json, csv, signed or html"});
    } else {
      // The name is not echoed: error bodies never repeat input.
      errors.push_back({"query", "names a parameter this route does not take"});
    }
  }
  if (!errors.empty()) return std::unexpected(problem(400, "invalid query", errors));
  return query;
}

}  // namespace

http::Response ServerApp::compliance(http::Request& request, const Params&, const Caller&) {
  auto query = report_query(request, true);
  if (!query) return query.error();
  auto format_name = request.query.contains("format") ? request.query.at("format") : std::string("json");
  auto format = *compliance::parse_format(format_name);
  auto key = report_key();
  if (format == compliance::Format::kSigned && !key) {
    return problem(503, "the server has no report key (data directory without report.key); see the server log");
  }
  auto report = compliance::export_report(store_, *query, format, key.get(), clock_(), data_dir_ / "exports");
  if (!report) {
    if (report.error().is(common::Errc::kNotFound)) return problem(404, "no such baseline");
    return problem_from(report.error());
  }
  auto response = export_file_reply(report->file, std::string(compliance::content_type(format)));
  if (response.status != 200) return response;
  response.headers["Content-Disposition"] =
      "attachment; filename=\"compliance." + std::string(compliance::file_extension(format)) + "\"";
  if (format == compliance::Format::kHtml) {
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'";
  }
  response.headers["X-Flotilla-Devices"] = std::to_string(report->summary.devices);
  return response;
}

http::Response ServerApp::compliance_summary(http::Request& request, const Params&, const Caller&) {
  auto query = report_query(request, false);
  if (!query) return query.error();
  auto now = clock_();
  auto summary = compliance::summarize(store_, *query, now);
  if (!summary) {
    if (summary.error().is(common::Errc::kNotFound)) return problem(404, "no such baseline");
    return problem_from(summary.error());
  }
  return json_reply(200, {{"generated_at", common::format_rfc3339(now)},
                          {"baseline", query->baseline ? common::Json(*query->baseline) : common::Json(nullptr)},
                          {"filters", query->filters_json()},
                          {"summary", summary->to_json()}});
}

http::Response ServerApp::report_public_key(http::Request&, const Params&, const Caller&) {
  auto key = report_key();
  if (!key) return problem(404, "the server has no report key");
  http::Response response;
  response.content_type = "application/x-pem-file";
  response.headers["X-Flotilla-Key-Id"] = key->key_id();
  response.body = key->public_key().to_pem();
  return response;
}

std::shared_ptr<const signing::PrivateKey> ServerApp::report_key() {
  std::lock_guard lock(report_key_mutex_);
  if (!report_key_) {
    auto path = data_dir_ / "report.key";
    auto loaded = signing::load_private_key(path.string());
    if (!loaded) {
      common::log(common::LogLevel::kWarn, "no report key: " + loaded.error().describe());
      return nullptr;
    }
    report_key_ = std::make_shared<const signing::PrivateKey>(std::move(*loaded));
  }
  return report_key_;
}

}  // namespace flotilla::server::api
