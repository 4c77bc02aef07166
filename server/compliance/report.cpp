#include "server/compliance/report.hpp"

#include <algorithm>

namespace flotilla::server::compliance {
namespace {

constexpr policy::ComplianceStatus kStatuses[] = {
    policy::ComplianceStatus::kCompliant, policy::ComplianceStatus::kOutdated, policy::ComplianceStatus::kOverdue,
    policy::ComplianceStatus::kFailed,    policy::ComplianceStatus::kPending,  policy::ComplianceStatus::kUnknown,
    policy::ComplianceStatus::kStale,     policy::ComplianceStatus::kTampered};

common::Json optional_text(const std::optional<std::string>& text) {
  return text ? common::Json(*text) : common::Json(nullptr);
}

template <typename T, typename Key>
const T* find_by(const std::vector<T>& items, const Key& key, std::string T::*field) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& item) { return item.*field == key; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

std::vector<common::Json> rows_of(const ComplianceDevice& device, const std::vector<policy::Requirement>& requirements,
                                  const policy::DeviceVerdict& verdict) {
  auto labels = common::Json::parse(device.labels_json, nullptr, false);
  if (!labels.is_object()) labels = common::Json::object();
  std::string device_status(policy::status_name(verdict.status));
  auto row_for = [&](const policy::Requirement* required, const policy::ComponentVerdict* judged) {
    const std::string* component = required ? &required->component : nullptr;
    const auto* installed = component ? find_by(device.components, *component, &ComplianceDevice::Component::name) : nullptr;
    const auto* attempt =
        component ? find_by(device.latest_attempts, *component, &ComplianceDevice::Attempt::component) : nullptr;
    common::Json row = {
        {"device_id", device.id},
        {"device_type", device.device_type},
        {"labels", labels},
        {"component", component ? common::Json(*component) : common::Json(nullptr)},
        {"status", judged ? std::string(policy::status_name(judged->status)) : device_status},
        {"device_status", device_status},
        {"reason", judged ? judged->reason : verdict.reason},
        {"installed_version", installed ? common::Json(installed->version) : common::Json(nullptr)},
        {"installed_security_version", installed ? common::Json(installed->security_version) : common::Json(nullptr)},
        {"required_version", required && required->min_version ? common::Json(required->min_version->text()) : common::Json(nullptr)},
        {"required_security_version",
         required && required->min_security_version ? common::Json(*required->min_security_version) : common::Json(nullptr)},
        {"deadline", required && required->deadline ? common::Json(common::format_rfc3339(*required->deadline))
                                                     : common::Json(nullptr)},
        {"last_seen", optional_text(device.last_seen)},
        {"last_update_result", attempt ? common::Json(attempt->state) : common::Json(nullptr)},
        {"last_update_at", attempt ? common::Json(attempt->updated_at) : common::Json(nullptr)},
        {"last_update_deployment", attempt ? common::Json(attempt->deployment_id) : common::Json(nullptr)},
        {"report_counter", device.reported ? common::Json(device.report_counter) : common::Json(nullptr)},
        {"report_digest", optional_text(device.report_digest)},
        {"report_at", optional_text(device.report_at)}};
    return row;
  };
  std::vector<common::Json> rows;
  for (std::size_t i = 0; i < requirements.size(); ++i) {
    rows.push_back(row_for(&requirements[i], i < verdict.components.size() ? &verdict.components[i] : nullptr));
  }
  if (rows.empty()) rows.push_back(row_for(nullptr, nullptr));
  return rows;
}

Summary::Summary() {
  for (auto status : kStatuses) by_status.emplace(std::string(policy::status_name(status)), 0);
}

void Summary::add(const std::string& device_type, const std::string& device_status, std::size_t row_count) {
  ++devices;
  rows += static_cast<std::int64_t>(row_count);
  ++by_status[device_status];
  auto& type = by_device_type[device_type];
  if (type.empty()) {
    for (auto status : kStatuses) type.emplace(std::string(policy::status_name(status)), 0);
  }
  ++type[device_status];
}

common::Json Summary::to_json() const {
  return {{"devices", devices}, {"rows", rows}, {"by_status", by_status}, {"by_device_type", by_device_type}};
}

namespace {

common::Json header_fields(const ReportHeader& header) {
  return {{"report", "flotilla-compliance"},
          {"report_version", kReportVersion},
          {"generated_at", header.generated_at},
          {"baseline", header.baseline},
          {"filters", header.filters},
          {"report_key_id", header.report_key_id}};
}

// {"report": ..., "rows": [...], "summary": ..., "audit_head": ...}: the
// header first, rows as they come, the totals last.
class JsonWriter final : public ReportWriter {
 public:
  JsonWriter(const ReportHeader& header, const std::filesystem::path& out) : out_(out, std::ios::binary | std::ios::trunc) {
    auto head = header_fields(header).dump();
    head.pop_back();  // the closing brace: rows follow
    out_ << head << ",\"rows\":[";
  }
  common::Status device(const std::string&, const std::vector<common::Json>& rows) override {
    for (const auto& row : rows) {
      out_ << (first_ ? "\n" : ",\n") << row.dump();
      first_ = false;
    }
    return check();
  }
  common::Status finish(const Summary& summary, const common::Json& audit_head) override {
    out_ << "\n],\"summary\":" << summary.to_json().dump() << ",\"audit_head\":" << audit_head.dump() << "}\n";
    out_.flush();
    return check();
  }

 private:
  common::Status check() {
    if (!out_) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }
  std::ofstream out_;
  bool first_ = true;
};

// RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted.
std::string csv_field(const common::Json& value) {
  std::string text = value.is_null() ? std::string() : value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

constexpr const char* kCsvColumns[] = {
    "device_id",        "device_type",         "labels",          "component",     "status",
    "device_status",    "reason",              "installed_version", "installed_security_version",
    "required_version", "required_security_version", "deadline", "last_seen",     "last_update_result",
    "last_update_at",   "report_counter",      "report_digest",   "report_at"};

// One row per device and component. RFC 4180 has no room for a summary,
// so each row names the report it belongs to (generated_at, baseline).
class CsvWriter final : public ReportWriter {
 public:
  CsvWriter(const ReportHeader& header, const std::filesystem::path& out)
      : out_(out, std::ios::binary | std::ios::trunc),
        trailer_("," + csv_field(header.baseline.value("name", common::Json(nullptr))) + "," + header.generated_at + "\r\n") {
    for (const char* column : kCsvColumns) out_ << column << ',';
    out_ << "baseline,generated_at\r\n";
  }
  common::Status device(const std::string&, const std::vector<common::Json>& rows) override {
    for (const auto& row : rows) {
      bool first = true;
      for (const char* column : kCsvColumns) {
        if (!first) out_ << ',';
        first = false;
        out_ << csv_field(row[column]);
      }
      out_ << trailer_;
    }
    if (!out_) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }
  common::Status finish(const Summary&, const common::Json&) override {
    out_.flush();
    if (!out_) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }

 private:
  std::ofstream out_;
  std::string trailer_;
};

}  // namespace

std::unique_ptr<ReportWriter> json_writer(const ReportHeader& header, const std::filesystem::path& out) {
  return std::make_unique<JsonWriter>(header, out);
}

std::unique_ptr<ReportWriter> csv_writer(const ReportHeader& header, const std::filesystem::path& out) {
  return std::make_unique<CsvWriter>(header, out);
}

}  // namespace flotilla::server::compliance
