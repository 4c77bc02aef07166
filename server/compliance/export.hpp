// Compliance reports from the store (DESIGN.md §9), in pages: JSON, CSV,
// HTML and the signed JSON (DSSE, report type, the server's report key).
// Written to a file as rows are produced, so memory stays flat whatever
// the fleet size; the caller sends the file and removes it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "common/json.hpp"
#include "common/time.hpp"
#include "server/compliance/report.hpp"
#include "server/store/store.hpp"
#include "signing/key.hpp"

namespace flotilla::server::compliance {

enum class Format { kJson, kCsv, kSigned, kHtml };
std::optional<Format> parse_format(std::string_view name);
std::string_view content_type(Format format);
std::string_view file_extension(Format format);  // "signed.json" for a signed report

struct ReportQuery {
  std::optional<std::string> baseline;
  std::optional<std::string> device_type;
  std::optional<std::pair<std::string, std::string>> label;
  std::optional<std::string> status;  // a device status; rows of other devices are left out
  std::optional<std::int64_t> rollout_id;
  common::Json filters_json() const;
};

struct ExportedReport {
  std::filesystem::path file;
  Summary summary;
};

// `work_dir` holds the report (and scratch files while it is written).
// A signed report needs `report_key`. kNotFound: no such baseline.
common::Result<ExportedReport> export_report(Store& store, const ReportQuery& query, Format format,
                                             const signing::PrivateKey* report_key, common::TimePoint now,
                                             const std::filesystem::path& work_dir);

// Counts only (`flotilla compliance summary`, the rollout view).
common::Result<Summary> summarize(Store& store, const ReportQuery& query, common::TimePoint now);

// One device's status with its component rows, for `devices show`;
// nullopt when the device is not accepted (it has no compliance status).
common::Result<std::optional<common::Json>> device_compliance(Store& store, const std::string& device_id,
                                                              const std::optional<std::string>& baseline,
                                                              common::TimePoint now);

}  // namespace flotilla::server::compliance
