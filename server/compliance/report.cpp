#include "server/compliance/report.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "signing/dsse.hpp"
#include "signing/dsse_file.hpp"

namespace flotilla::server::compliance {
namespace {

template <typename T>
const T* find_by(const std::vector<T>& items, const std::string& key, std::string T::*field) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& item) { return item.*field == key; });
  return it == items.end() ? nullptr : &*it;
}

Cell null() { return {}; }
Cell text(std::string value) { return {Cell::Kind::kText, std::move(value), 0}; }
Cell integer(std::int64_t value) { return {Cell::Kind::kInteger, {}, value}; }
Cell optional_text(const std::optional<std::string>& value) { return value ? text(*value) : null(); }

// JSON string escaping; the text is valid UTF-8 (every input was checked).
void append_json_string(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

const std::array<const char*, kColumnCount> kColumnNames = {
    "device_id",         "device_type",      "labels",         "component",          "status",
    "device_status",     "reason",           "installed_version", "installed_security_version",
    "required_version",  "required_security_version", "deadline", "last_seen",       "last_update_result",
    "last_update_at",    "last_update_deployment",    "report_counter", "report_digest", "report_at",
    "evidence",          "gateway"};

DeviceRows rows_of(const ComplianceDevice& device, const std::vector<policy::Requirement>& requirements,
                   policy::DeviceVerdict verdict) {
  DeviceRows rows{.device = &device, .requirements = &requirements, .verdict = std::move(verdict)};
  rows.status = std::string(policy::status_name(rows.verdict.status));
  rows.labels = common::Json::parse(device.labels_json, nullptr, false);
  if (!rows.labels.is_object()) rows.labels = common::Json::object();
  rows.labels_json = rows.labels.dump();
  return rows;
}

Cell cell(const DeviceRows& rows, std::size_t row, Column column) {
  const auto& device = *rows.device;
  const policy::Requirement* required = row < rows.requirements->size() ? &(*rows.requirements)[row] : nullptr;
  const policy::ComponentVerdict* judged =
      required && row < rows.verdict.components.size() ? &rows.verdict.components[row] : nullptr;
  auto installed = [&] { return required ? find_by(device.components, required->component, &ComplianceDevice::Component::name) : nullptr; };
  auto attempt = [&] {
    return required ? find_by(device.latest_attempts, required->component, &ComplianceDevice::Attempt::component) : nullptr;
  };
  switch (column) {
    case kDeviceId: return text(device.id);
    case kDeviceType: return text(device.device_type);
    case kLabels: return {Cell::Kind::kJson, rows.labels_json, 0};
    case kComponent: return required ? text(required->component) : null();
    case kStatus: return text(judged ? std::string(policy::status_name(judged->status)) : rows.status);
    case kDeviceStatus: return text(rows.status);
    case kReason: return text(judged ? judged->reason : rows.verdict.reason);
    case kInstalledVersion: { auto* c = installed(); return c ? text(c->version) : null(); }
    case kInstalledSecurityVersion: { auto* c = installed(); return c ? integer(c->security_version) : null(); }
    case kRequiredVersion: return required && required->min_version ? text(required->min_version->text()) : null();
    case kRequiredSecurityVersion:
      return required && required->min_security_version ? integer(*required->min_security_version) : null();
    case kDeadline: return required && required->deadline ? text(common::format_rfc3339(*required->deadline)) : null();
    case kLastSeen: return optional_text(device.last_seen);
    case kLastUpdateResult: { auto* a = attempt(); return a ? text(a->state) : null(); }
    case kLastUpdateAt: { auto* a = attempt(); return a ? text(a->updated_at) : null(); }
    case kLastUpdateDeployment: { auto* a = attempt(); return a ? integer(a->deployment_id) : null(); }
    case kReportCounter: return device.reported ? integer(device.report_counter) : null();
    case kReportDigest: return optional_text(device.report_digest);
    case kReportAt: return optional_text(device.report_at);
    // What vouches for the installed versions (docs/compliance.md): the
    // device's signature, or only a DDI client's word.
    case kEvidence:
      if (!device.reported) return null();
      if (device.protocol == "ddi") return text("self-reported (ddi)");
      if (device.parent) return text("gateway-signed (gateway " + *device.parent + ")");
      return text("device-signed");
    // A child's gateway (docs/gateway.md); null for a device of its own.
    case kGateway: return optional_text(device.parent);
    case kColumnCount: break;
  }
  return null();
}

common::Json cell_json(const DeviceRows& rows, std::size_t row, Column column) {
  auto value = cell(rows, row, column);
  switch (value.kind) {
    case Cell::Kind::kNull: return nullptr;
    case Cell::Kind::kText: return value.text;
    case Cell::Kind::kInteger: return value.integer;
    case Cell::Kind::kJson: return column == kLabels ? rows.labels : common::Json::parse(value.text);
  }
  return nullptr;
}

void append_row_json(std::string& out, const DeviceRows& rows, std::size_t row) {
  out += '{';
  for (std::size_t column = 0; column < kColumnCount; ++column) {
    if (column > 0) out += ',';
    out += '"';
    out += kColumnNames[column];
    out += "\":";
    auto value = cell(rows, row, static_cast<Column>(column));
    switch (value.kind) {
      case Cell::Kind::kNull: out += "null"; break;
      case Cell::Kind::kText: append_json_string(out, value.text); break;
      case Cell::Kind::kInteger: out += std::to_string(value.integer); break;
      case Cell::Kind::kJson: out += value.text; break;
    }
  }
  out += '}';
}

Summary::Summary() {
  for (auto status : policy::kAllStatuses) by_status.emplace(std::string(policy::status_name(status)), 0);
}

void Summary::add(const std::string& device_type, const std::string& device_status, std::size_t row_count) {
  ++devices;
  rows += static_cast<std::int64_t>(row_count);
  ++by_status[device_status];
  auto& type = by_device_type[device_type];
  if (type.empty()) {
    for (auto status : policy::kAllStatuses) type.emplace(std::string(policy::status_name(status)), 0);
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

// Where the JSON text goes: a file, or a signed envelope around it.
class TextOut {
 public:
  virtual ~TextOut() = default;
  virtual common::Status write(std::string_view text) = 0;
  virtual common::Status close() = 0;
};

class FileOut final : public TextOut {
 public:
  explicit FileOut(const std::filesystem::path& path) : out_(path, std::ios::binary | std::ios::trunc) {}
  common::Status write(std::string_view text) override {
    out_ << text;
    return check();
  }
  common::Status close() override {
    out_.flush();
    return check();
  }

 private:
  common::Status check() {
    if (!out_) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }
  std::ofstream out_;
};

class EnvelopeOut final : public TextOut {
 public:
  EnvelopeOut(const std::filesystem::path& path, const signing::PrivateKey& key) : key_(key) {
    auto opened = signing::EnvelopeFileWriter::open(signing::kReportType, path);
    if (opened) {
      envelope_ = std::move(*opened);
    } else {
      error_ = opened.error();
    }
  }
  common::Status write(std::string_view text) override {
    if (!envelope_) return std::unexpected(*error_);
    return envelope_->write(text);
  }
  common::Status close() override {
    if (!envelope_) return std::unexpected(*error_);
    return envelope_->finish(key_);
  }

 private:
  const signing::PrivateKey& key_;
  std::unique_ptr<signing::EnvelopeFileWriter> envelope_;
  std::optional<common::Error> error_;
};

// Writes on a thread of its own, so producing the rows (the database,
// the verdicts, the JSON text) and writing them (base64, the page cache)
// overlap on two cores: the export costs about the larger of the two,
// not their sum. At most kQueued texts wait; the first error is the
// answer of the next write() or close().
class ThreadedOut final : public TextOut {
 public:
  explicit ThreadedOut(std::unique_ptr<TextOut> inner) : inner_(std::move(inner)), thread_([this] { loop(); }) {}
  ~ThreadedOut() override { stop(); }
  common::Status write(std::string_view text) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return queue_.size() < kQueued || error_; });
    if (error_) return std::unexpected(*error_);
    queue_.emplace_back(text);
    changed_.notify_all();
    return {};
  }
  common::Status close() override {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return queue_.empty() || error_; });
      if (error_) return std::unexpected(*error_);
    }
    stop();
    return inner_->close();
  }

 private:
  static constexpr std::size_t kQueued = 3;
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;
      lock.unlock();
      auto ok = error_ ? common::Status{} : inner_->write(queue_.front());
      lock.lock();
      if (!ok && !error_) error_ = ok.error();
      queue_.pop_front();
      changed_.notify_all();
    }
  }

  std::unique_ptr<TextOut> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::optional<common::Error> error_;
  bool stopping_ = false;
  std::thread thread_;
};

// {"report": ..., "rows": [...], "summary": ..., "audit_head": ...}: the
// header first, rows as they come, the totals last.
class JsonWriter final : public ReportWriter {
 public:
  JsonWriter(const ReportHeader& header, std::unique_ptr<TextOut> out) : out_(std::move(out)) {
    buffer_ = header_fields(header).dump();
    buffer_.pop_back();  // the closing brace: rows follow
    buffer_ += ",\"rows\":[";
  }
  common::Status device(const DeviceRows& rows) override {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      buffer_ += first_ ? "\n" : ",\n";
      append_row_json(buffer_, rows, i);
      first_ = false;
    }
    if (buffer_.size() < kFlushBytes) return {};
    auto ok = out_->write(buffer_);
    buffer_.clear();
    return ok;
  }
  common::Status finish(const Summary& summary, const common::Json& audit_head) override {
    buffer_ += "\n],\"summary\":" + summary.to_json().dump() + ",\"audit_head\":" + audit_head.dump() + "}\n";
    if (auto ok = out_->write(buffer_); !ok) return ok;
    return out_->close();
  }

 private:
  static constexpr std::size_t kFlushBytes = 256 * 1024;
  std::unique_ptr<TextOut> out_;
  std::string buffer_;
  bool first_ = true;
};

// RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted.
void append_csv_field(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string csv_field(std::string_view text) {
  std::string out;
  append_csv_field(out, text);
  return out;
}

// One row per device and component. RFC 4180 has no room for a summary,
// so each row names the report it belongs to (generated_at, baseline).
class CsvWriter final : public ReportWriter {
 public:
  CsvWriter(const ReportHeader& header, std::unique_ptr<TextOut> out)
      : out_(std::move(out)), trailer_("," + csv_field(header.baseline_name) + "," + header.generated_at + "\r\n") {
    for (const char* column : kColumnNames) (buffer_ += column) += ',';
    buffer_ += "baseline,generated_at\r\n";
  }
  common::Status device(const DeviceRows& rows) override {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      for (std::size_t column = 0; column < kColumnCount; ++column) {
        if (column > 0) buffer_ += ',';
        auto value = cell(rows, i, static_cast<Column>(column));
        if (value.kind == Cell::Kind::kInteger) {
          buffer_ += std::to_string(value.integer);
        } else {
          append_csv_field(buffer_, value.text);
        }
      }
      buffer_ += trailer_;
    }
    if (buffer_.size() < kFlushBytes) return {};
    auto ok = out_->write(buffer_);
    buffer_.clear();
    return ok;
  }
  common::Status finish(const Summary&, const common::Json&) override {
    if (auto ok = out_->write(buffer_); !ok) return ok;
    return out_->close();
  }

 private:
  static constexpr std::size_t kFlushBytes = 256 * 1024;
  std::unique_ptr<TextOut> out_;
  std::string trailer_;
  std::string buffer_;
};

}  // namespace

std::unique_ptr<ReportWriter> json_writer(const ReportHeader& header, const std::filesystem::path& out) {
  return std::make_unique<JsonWriter>(header, std::make_unique<ThreadedOut>(std::make_unique<FileOut>(out)));
}

std::unique_ptr<ReportWriter> signed_json_writer(const ReportHeader& header, const std::filesystem::path& out,
                                                 const signing::PrivateKey& key) {
  return std::make_unique<JsonWriter>(header, std::make_unique<ThreadedOut>(std::make_unique<EnvelopeOut>(out, key)));
}

std::unique_ptr<ReportWriter> csv_writer(const ReportHeader& header, const std::filesystem::path& out) {
  return std::make_unique<CsvWriter>(header, std::make_unique<ThreadedOut>(std::make_unique<FileOut>(out)));
}

}  // namespace flotilla::server::compliance
