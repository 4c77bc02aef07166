// The HTML compliance report: for people, self-contained (no script, no
// external resource; a Content-Security-Policy says so), printable.
// Summary and inline SVG charts first, then devices by status with
// overdue ones first. Device-supplied text is always escaped.
#include <algorithm>
#include <array>
#include <cstdio>

#include "server/compliance/report.hpp"

namespace flotilla::server::compliance {
namespace {

struct StatusStyle {
  const char* name;
  const char* color;
};
// The order sections appear in: what needs action first.
constexpr std::array<StatusStyle, 8> kSections = {{{"overdue", "#b3261e"},
                                                    {"tampered", "#6a1b9a"},
                                                    {"stale", "#795548"},
                                                    {"failed", "#e65100"},
                                                    {"unknown", "#757575"},
                                                    {"outdated", "#f9a825"},
                                                    {"pending", "#1565c0"},
                                                    {"compliant", "#2e7d32"}}};

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string text_of(const common::Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string text_of(const Cell& value) {
  return value.kind == Cell::Kind::kInteger ? std::to_string(value.integer) : value.text;
}

std::string labels_text(const common::Json& labels) {
  std::string out;
  if (!labels.is_object()) return out;
  for (const auto& [key, value] : labels.items()) {
    if (!out.empty()) out += ", ";
    out += key + "=" + text_of(value);
  }
  return out;
}

std::string percent(std::int64_t part, std::int64_t whole) {
  if (whole == 0) return "0%";
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buffer;
}

// Devices by status: one horizontal bar each.
std::string status_chart(const Summary& summary) {
  constexpr int kWidth = 640, kRow = 26, kLabel = 90, kBar = 460;
  std::int64_t most = 1;
  for (const auto& [status, n] : summary.by_status) most = std::max(most, n);
  std::string svg = "<svg class=\"chart\" role=\"img\" aria-label=\"Devices by status\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    std::to_string(kWidth) + "\" height=\"" + std::to_string(kRow * 8 + 8) + "\">";
  int y = 4;
  for (const auto& section : kSections) {
    auto n = summary.by_status.at(section.name);
    auto width = static_cast<int>(static_cast<double>(kBar) * static_cast<double>(n) / static_cast<double>(most));
    svg += "<text x=\"0\" y=\"" + std::to_string(y + 17) + "\">" + section.name + "</text>";
    svg += "<rect data-status=\"" + std::string(section.name) + "\" x=\"" + std::to_string(kLabel) + "\" y=\"" +
           std::to_string(y + 3) + "\" width=\"" + std::to_string(std::max(width, n > 0 ? 2 : 0)) +
           "\" height=\"18\" fill=\"" + section.color + "\"/>";
    svg += "<text x=\"" + std::to_string(kLabel + width + 6) + "\" y=\"" + std::to_string(y + 17) + "\">" +
           std::to_string(n) + "</text>";
    y += kRow;
  }
  return svg + "</svg>";
}

// Device types: one bar each, split by status, as shares of the type.
std::string type_chart(const Summary& summary) {
  constexpr int kWidth = 640, kRow = 26, kLabel = 150, kBar = 440;
  int height = static_cast<int>(summary.by_device_type.size()) * kRow + 8;
  std::string svg = "<svg class=\"chart\" role=\"img\" aria-label=\"Devices by type and status\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    std::to_string(kWidth) + "\" height=\"" + std::to_string(height) + "\">";
  int y = 4;
  for (const auto& [type, counts] : summary.by_device_type) {
    std::int64_t total = 0;
    for (const auto& [status, n] : counts) total += n;
    svg += "<text x=\"0\" y=\"" + std::to_string(y + 17) + "\">" + escape(type) + "</text>";
    double x = kLabel;
    for (const auto& section : kSections) {
      auto n = counts.at(section.name);
      if (n == 0 || total == 0) continue;
      double width = static_cast<double>(kBar) * static_cast<double>(n) / static_cast<double>(total);
      char rect[256];
      std::snprintf(rect, sizeof rect,
                    "<rect data-status=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"><title>%s: %lld</title></rect>",
                    section.name, x, y + 3, width, section.color, section.name, static_cast<long long>(n));
      svg += rect;
      x += width;
    }
    svg += "<text x=\"" + std::to_string(kLabel + kBar + 6) + "\" y=\"" + std::to_string(y + 17) + "\">" +
           std::to_string(total) + "</text>";
    y += kRow;
  }
  return svg + "</svg>";
}

constexpr const char* kStyle = R"css(
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1d1d1d}
h1{font-size:1.6em;margin-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f1f1}
td.num{text-align:right}
.meta td:first-child{font-weight:600}
.chart text{font-size:13px;fill:#1d1d1d}
.badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff}
code{font-size:12px;word-break:break-all}
@media print{body{margin:0}details{display:block}details>summary{display:none}tr{break-inside:avoid}}
)css";

class HtmlWriter final : public ReportWriter {
 public:
  HtmlWriter(const ReportHeader& header, std::filesystem::path out, std::filesystem::path scratch_dir)
      : header_(header), out_path_(std::move(out)), scratch_dir_(std::move(scratch_dir)) {
    std::filesystem::create_directories(scratch_dir_);
    for (std::size_t i = 0; i < kSections.size(); ++i) {
      sections_[i].open(scratch_path(i), std::ios::binary | std::ios::trunc);
    }
  }
  ~HtmlWriter() override {
    std::error_code ec;
    std::filesystem::remove_all(scratch_dir_, ec);
  }

  common::Status device(const DeviceRows& rows) override {
    std::size_t section = 0;
    while (section + 1 < kSections.size() && rows.status != kSections[section].name) ++section;
    auto& out = sections_[section];
    auto field = [&](std::size_t row, Column column) { return escape(text_of(cell(rows, row, column))); };
    auto span = std::to_string(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out << "<tr>";
      if (i == 0) {
        out << "<td rowspan=\"" << span << "\"><code>" << escape(rows.device->id) << "</code></td><td rowspan=\"" << span
            << "\">" << escape(rows.device->device_type) << "</td><td rowspan=\"" << span << "\">"
            << escape(labels_text(rows.labels)) << "</td>";
      }
      out << "<td>" << field(i, kComponent) << "</td><td>" << field(i, kStatus) << "</td><td>"
          << field(i, kInstalledVersion) << "</td><td>" << field(i, kRequiredVersion) << "</td><td>"
          << field(i, kDeadline) << "</td><td>" << field(i, kReason) << "</td>";
      if (i == 0) {
        out << "<td rowspan=\"" << span << "\">" << field(i, kLastSeen) << "</td><td rowspan=\"" << span << "\">"
            << field(i, kReportCounter) << "</td>";
      }
      out << "</tr>\n";
    }
    if (!out) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }

  common::Status finish(const Summary& summary, const common::Json& audit_head) override {
    std::ofstream out(out_path_, std::ios::binary | std::ios::trunc);
    std::string baseline = header_.baseline.value("name", common::Json(nullptr)).is_string()
                               ? header_.baseline["name"].get<std::string>()
                               : std::string("default rule (highest published release)");
    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        << "<title>Compliance report: " << escape(baseline) << " (" << escape(header_.generated_at) << ")</title>"
        << "<style>" << kStyle << "</style></head><body>\n"
        << "<h1>Compliance report</h1>\n<table class=\"meta\">"
        << "<tr><td>Baseline</td><td>" << escape(baseline) << "</td></tr>"
        << "<tr><td>Generated at</td><td>" << escape(header_.generated_at) << "</td></tr>"
        << "<tr><td>Filters</td><td>" << escape(header_.filters.empty() ? std::string("none") : header_.filters.dump())
        << "</td></tr>"
        << "<tr><td>Audit chain head</td><td>entry " << escape(text_of(audit_head["seq"])) << ", <code>"
        << escape(text_of(audit_head["hash"])) << "</code></td></tr>"
        << "<tr><td>Report key</td><td><code>" << escape(header_.report_key_id) << "</code></td></tr></table>\n"
        << "<p>This page is a reading aid. The evidence is the signed export of the same report "
        << "(<code>flotilla compliance export --format signed</code>), checked with "
        << "<code>flotilla compliance verify</code>; each row names the device-signed inventory report "
        << "(counter) it was derived from.</p>\n";
    auto compliant = summary.by_status.at("compliant");
    out << "<h2 id=\"summary\">Summary</h2>\n<p><strong>" << summary.devices << "</strong> devices, <strong>"
        << compliant << "</strong> compliant (" << percent(compliant, summary.devices) << ").</p>\n"
        << "<table class=\"counts\"><tr><th>Status</th><th>Devices</th><th>Share</th></tr>";
    for (const auto& section : kSections) {
      auto n = summary.by_status.at(section.name);
      out << "<tr><td><span class=\"badge\" style=\"background:" << section.color << "\">" << section.name
          << "</span></td><td class=\"num\">" << n << "</td><td class=\"num\">" << percent(n, summary.devices)
          << "</td></tr>";
    }
    out << "</table>\n<h3>Devices by status</h3>\n" << status_chart(summary) << "\n<h3>Devices by type</h3>\n"
        << type_chart(summary) << "\n";
    for (std::size_t i = 0; i < kSections.size(); ++i) {
      sections_[i].close();
      auto n = summary.by_status.at(kSections[i].name);
      if (n == 0) continue;
      bool fold = std::string_view(kSections[i].name) == "compliant";
      out << (fold ? "<details>\n<summary>" : "<h2 id=\"") << (fold ? "" : kSections[i].name) << (fold ? "" : "\">")
          << "Devices " << kSections[i].name << ": " << n << (fold ? "</summary>\n" : "</h2>\n")
          << "<table><tr><th>Device</th><th>Type</th><th>Labels</th><th>Component</th><th>Status</th>"
             "<th>Installed</th><th>Required</th><th>Deadline</th><th>Reason</th><th>Last seen</th><th>Report</th></tr>\n";
      std::ifstream rows(scratch_path(i), std::ios::binary);
      if (rows.peek() != std::ifstream::traits_type::eof()) out << rows.rdbuf();
      out << "</table>\n" << (fold ? "</details>\n" : "");
    }
    out << "</body></html>\n";
    out.flush();
    if (!out) return common::fail(common::Errc::kIo, "cannot write the report");
    return {};
  }

 private:
  std::filesystem::path scratch_path(std::size_t i) const { return scratch_dir_ / (std::string(kSections[i].name) + ".rows"); }

  ReportHeader header_;
  std::filesystem::path out_path_;
  std::filesystem::path scratch_dir_;
  std::array<std::ofstream, kSections.size()> sections_;
};

}  // namespace

std::unique_ptr<ReportWriter> html_writer(const ReportHeader& header, const std::filesystem::path& out,
                                          const std::filesystem::path& scratch_dir) {
  return std::make_unique<HtmlWriter>(header, out, scratch_dir);
}

}  // namespace flotilla::server::compliance
