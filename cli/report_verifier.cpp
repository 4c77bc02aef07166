#include "cli/report_verifier.hpp"

#include <set>

#include "common/file.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "policy/compliance.hpp"
#include "signing/dsse.hpp"

namespace flotilla::cli {
namespace {

using common::Json;

bool is_status(const Json& value) { return value.is_string() && policy::parse_status(value.get_ref<const std::string&>()); }

bool is_hex64(const Json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The kinds docs/compliance.md names for the evidence column.
bool is_evidence_kind(const Json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  if (text == "device-signed" || text == "self-reported (ddi)") return true;
  constexpr std::string_view kGateway = "gateway-signed (gateway ";
  return text.starts_with(kGateway) && text.ends_with(")") && is_hex64(text.substr(kGateway.size(), text.size() - kGateway.size() - 1));
}

bool string_or_null(const Json& row, const char* key) {
  return row.contains(key) && (row[key].is_string() || row[key].is_null());
}
bool integer_or_null(const Json& row, const char* key) {
  return row.contains(key) && (row[key].is_number_integer() || row[key].is_null());
}

// Checks each row as the parser finishes it, then drops it: the report's
// rows are never all in memory. Counts devices by their status; a device's
// rows must be together (one device, one count).
class RowChecker {
 public:
  std::string problem;  // the first, with the row's index
  std::int64_t rows = 0;
  std::int64_t devices = 0;
  std::map<std::string, std::int64_t> by_status;
  std::map<std::string, std::map<std::string, std::int64_t>> by_type;

  void check(const Json& row) {
    if (!problem.empty()) return;
    auto where = "/rows/" + std::to_string(rows);
    ++rows;
    if (!row.is_object()) return fail(where + ": is not an object");
    for (const char* key : {"device_id", "device_type", "status", "device_status", "reason"}) {
      if (!row.contains(key) || !row[key].is_string()) return fail(where + "/" + key + ": must be a string");
    }
    for (const char* key : {"component", "installed_version", "required_version", "deadline", "last_seen",
                            "last_update_result", "last_update_at", "report_digest", "report_at"}) {
      if (!string_or_null(row, key)) return fail(where + "/" + key + ": must be a string or null");
    }
    for (const char* key : {"installed_security_version", "required_security_version", "report_counter"}) {
      if (!integer_or_null(row, key)) return fail(where + "/" + key + ": must be an integer or null");
    }
    // Reports from before the column have no evidence; when present it is
    // one of the kinds docs/compliance.md names.
    if (row.contains("evidence") && !row["evidence"].is_null() && !is_evidence_kind(row["evidence"])) {
      return fail(where + "/evidence: must be \"device-signed\", \"self-reported (ddi)\", \"gateway-signed (gateway ID)\" or null");
    }
    // Reports from before gateways have no gateway column.
    if (row.contains("gateway") && !string_or_null(row, "gateway")) return fail(where + "/gateway: must be a string or null");
    if (!row.contains("labels") || !row["labels"].is_object()) return fail(where + "/labels: must be an object");
    if (!is_status(row["status"])) return fail(where + "/status: is not a compliance status");
    if (!is_status(row["device_status"])) return fail(where + "/device_status: is not a compliance status");
    if (!row["report_digest"].is_null() && !is_hex64(row["report_digest"])) {
      return fail(where + "/report_digest: must be 64 lowercase hex digits");
    }
    const auto& id = row["device_id"].get_ref<const std::string&>();
    const auto& status = row["device_status"].get_ref<const std::string&>();
    if (id == current_) {
      if (status != current_status_) return fail(where + "/device_status: differs from the device's other rows");
      return;
    }
    if (!seen_.insert(id).second) return fail(where + "/device_id: the device's rows are not together");
    current_ = id;
    current_status_ = status;
    ++devices;
    ++by_status[status];
    ++by_type[row["device_type"].get<std::string>()][status];
  }

 private:
  void fail(std::string message) { problem = std::move(message); }
  std::set<std::string> seen_;
  std::string current_, current_status_;
};

std::unexpected<common::Error> bad(const std::string& message) {
  return std::unexpected(common::Error(common::Errc::kBadField, "the report is malformed: " + message));
}

// Every status in `expected` has its count in `stated`, and no other count is non-zero.
bool same_counts(const std::map<std::string, std::int64_t>& expected, const Json& stated) {
  if (!stated.is_object()) return false;
  for (const auto& [status, n] : stated.items()) {
    if (!n.is_number_integer() || !is_status(Json(status))) return false;
    auto it = expected.find(status);
    if ((it == expected.end() ? 0 : it->second) != n.get<std::int64_t>()) return false;
  }
  for (const auto& [status, n] : expected) {
    if (!stated.contains(status)) return false;
  }
  return true;
}

// A member, or null when absent: value() would throw on a type mismatch.
const Json& member(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

}  // namespace

common::Result<VerifiedReport> verify_report_file(const std::filesystem::path& file, const signing::PublicKey& key) {
  auto text = common::read_file(file.string(), kMaxReportBytes);
  if (!text) return std::unexpected(text.error());
  auto envelope = signing::parse_envelope(*text, kMaxReportBytes);
  text->clear();
  text->shrink_to_fit();
  if (!envelope) return common::propagate(envelope, file.string());
  signing::KeyRing keys{{key.key_id(), key}};
  auto payload = signing::verify_envelope(*envelope, signing::kReportType, keys, {key.key_id()}, 1);
  if (!payload) return common::propagate(payload, "the report's signature by key " + key.key_id());
  envelope->payload.clear();
  envelope->payload.shrink_to_fit();
  return check_report_payload(*payload, key.key_id());
}

common::Result<VerifiedReport> check_report_payload(std::span<const std::uint8_t> payload, const std::string& key_id) {
  // Rows are checked as they complete and discarded (returning false drops
  // them from the document); everything else is kept and checked after.
  RowChecker checker;
  bool in_rows = false;
  Json report = Json::parse(
      payload.begin(), payload.end(),
      [&](int depth, Json::parse_event_t event, Json& parsed) {
        if (depth == 1 && event == Json::parse_event_t::key) in_rows = parsed == "rows";
        if (in_rows && depth == 2 && event == Json::parse_event_t::object_end) {
          checker.check(parsed);
          return false;
        }
        if (in_rows && depth == 2 && event == Json::parse_event_t::value) {
          checker.check(parsed);  // not an object: reported as such
          return false;
        }
        return true;
      },
      false);
  if (report.is_discarded() || !report.is_object()) return bad("the payload is not a JSON object");
  if (!checker.problem.empty()) return bad(checker.problem);
  if (member(report, "report") != "flotilla-compliance") return bad("/report: must be \"flotilla-compliance\"");
  if (!report.contains("report_version") || report["report_version"] != 1) return bad("/report_version: must be 1");
  if (!report.contains("generated_at") || !report["generated_at"].is_string() ||
      !common::parse_rfc3339(report["generated_at"].get<std::string>())) {
    return bad("/generated_at: must be an RFC 3339 time");
  }
  if (!report.contains("baseline") || !report["baseline"].is_object()) return bad("/baseline: must be an object");
  if (!report.contains("filters") || !report["filters"].is_object()) return bad("/filters: must be an object");
  if (!report.contains("rows") || !report["rows"].is_array()) return bad("/rows: must be an array");
  if (!report.contains("report_key_id") || report["report_key_id"] != key_id) {
    return bad("/report_key_id: names another key than the one that signed it");
  }
  const Json& head = report.contains("audit_head") ? report["audit_head"] : Json();
  if (!head.is_object() || !head.contains("seq") || !head["seq"].is_number_integer() || head["seq"] < 0 ||
      !head.contains("hash") || !is_hex64(head["hash"])) {
    return bad("/audit_head: must be {seq, hash} with a 64-digit hex hash");
  }
  const Json& summary = report.contains("summary") ? report["summary"] : Json();
  if (!summary.is_object()) return bad("/summary: must be an object");
  if (member(summary, "devices") != checker.devices) {
    return bad("/summary/devices: says " + member(summary, "devices").dump() + ", the rows hold " +
               std::to_string(checker.devices) + " devices");
  }
  if (member(summary, "rows") != checker.rows) {
    return bad("/summary/rows: says " + member(summary, "rows").dump() + ", there are " + std::to_string(checker.rows));
  }
  if (!same_counts(checker.by_status, member(summary, "by_status"))) {
    return bad("/summary/by_status: the counts are not the counts of the rows");
  }
  const Json& by_type = summary.contains("by_device_type") ? summary["by_device_type"] : Json();
  if (!by_type.is_object() || by_type.size() != checker.by_type.size()) {
    return bad("/summary/by_device_type: the device types are not those of the rows");
  }
  for (const auto& [type, counts] : checker.by_type) {
    if (!by_type.contains(type) || !same_counts(counts, by_type[type])) {
      return bad("/summary/by_device_type/" + type + ": the counts are not the counts of the rows");
    }
  }

  VerifiedReport out;
  out.generated_at = report["generated_at"].get<std::string>();
  const auto& name = member(report["baseline"], "name");
  out.baseline = name.is_string() ? name.get<std::string>() : "";
  out.devices = checker.devices;
  out.rows = checker.rows;
  out.by_status = checker.by_status;
  out.audit_seq = head["seq"].get<std::int64_t>();
  out.audit_hash = head["hash"].get<std::string>();
  out.key_id = key_id;
  return out;
}

}  // namespace flotilla::cli
