// A compliance report (DESIGN.md §9; docs/compliance.md is the format):
// rows, one per device and required component, and the summary counts,
// written as they are produced so memory does not grow with the fleet.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "signing/key.hpp"
#include "policy/compliance.hpp"
#include "server/store/store.hpp"

namespace flotilla::server::compliance {

inline constexpr int kReportVersion = 1;

// A device's rows: one per required component; a device its type
// requires nothing of still gets one (component null), so every device is
// counted. Holds what the rows point into.
struct DeviceRows {
  const ComplianceDevice* device = nullptr;
  const std::vector<policy::Requirement>* requirements = nullptr;
  policy::DeviceVerdict verdict;
  std::string status;       // the device's
  common::Json labels;      // always an object
  std::string labels_json;  // its compact JSON text

  std::size_t size() const { return std::max<std::size_t>(1, requirements->size()); }
};
DeviceRows rows_of(const ComplianceDevice& device, const std::vector<policy::Requirement>& requirements,
                   policy::DeviceVerdict verdict);

// One field of a row: null, text, an integer, or JSON text (labels).
struct Cell {
  enum class Kind { kNull, kText, kInteger, kJson } kind = Kind::kNull;
  std::string text;
  std::int64_t integer = 0;
};
// The columns of every format, in order (docs/compliance.md).
enum Column : std::size_t {
  kDeviceId, kDeviceType, kLabels, kComponent, kStatus, kDeviceStatus, kReason, kInstalledVersion,
  kInstalledSecurityVersion, kRequiredVersion, kRequiredSecurityVersion, kDeadline, kLastSeen, kLastUpdateResult,
  kLastUpdateAt, kLastUpdateDeployment, kReportCounter, kReportDigest, kReportAt, kEvidence, kGateway, kColumnCount
};
extern const std::array<const char*, kColumnCount> kColumnNames;
Cell cell(const DeviceRows& rows, std::size_t row, Column column);
// The cell as a JSON value (null, string, integer, or the labels object).
common::Json cell_json(const DeviceRows& rows, std::size_t row, Column column);
// `row` as a JSON object (the same text the JSON export writes).
void append_row_json(std::string& out, const DeviceRows& rows, std::size_t row);

// Counts by device (not by row): each device once, under its status.
struct Summary {
  std::int64_t devices = 0;
  std::int64_t rows = 0;
  std::map<std::string, std::int64_t> by_status;  // every status, zeros included
  std::map<std::string, std::map<std::string, std::int64_t>> by_device_type;

  Summary();
  void add(const std::string& device_type, const std::string& device_status, std::size_t row_count);
  common::Json to_json() const;
};

// What every format says about the report itself.
struct ReportHeader {
  std::string generated_at;
  common::Json baseline;  // Rules::description()
  std::string baseline_name;  // "" for the default rule
  common::Json filters = common::Json::object();
  std::string report_key_id;
};

class ReportWriter {
 public:
  virtual ~ReportWriter() = default;
  virtual common::Status device(const DeviceRows& rows) = 0;
  // `audit_head` = {seq, hash}, read after the last row: every change the
  // rows show is in the audit chain up to it.
  virtual common::Status finish(const Summary& summary, const common::Json& audit_head) = 0;
};

// JSON (also the signed report's payload), CSV (RFC 4180) and HTML.
std::unique_ptr<ReportWriter> json_writer(const ReportHeader& header, const std::filesystem::path& out);
// The JSON report as the payload of a DSSE envelope (signing::kReportType)
// signed by `key` at finish(): one file, no copy of the payload beside it.
std::unique_ptr<ReportWriter> signed_json_writer(const ReportHeader& header, const std::filesystem::path& out,
                                                 const signing::PrivateKey& key);
std::unique_ptr<ReportWriter> csv_writer(const ReportHeader& header, const std::filesystem::path& out);
// The HTML report lists overdue devices first; rows wait in one scratch
// file per status under `scratch_dir` until the summary is known.
std::unique_ptr<ReportWriter> html_writer(const ReportHeader& header, const std::filesystem::path& out,
                                          const std::filesystem::path& scratch_dir);

}  // namespace flotilla::server::compliance
