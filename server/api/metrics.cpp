#include "server/api/metrics.hpp"

#include <sstream>

namespace flotilla::server::api {

std::string prometheus_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Metrics::observe(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{method, route, status}];
  auto& h = latency_[route];
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
}

void Metrics::add_bundle_bytes(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  bundle_bytes_ += bytes;
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP flotilla_http_requests_total HTTP requests by method, route and status.\n"
      << "# TYPE flotilla_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [method, route, status] = key;
    out << "flotilla_http_requests_total{method=\"" << prometheus_label(method) << "\",route=\"" << prometheus_label(route)
        << "\",status=\"" << status << "\"} " << count << "\n";
  }
  out << "# HELP flotilla_http_request_duration_seconds Time to handle a request, by route.\n"
      << "# TYPE flotilla_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    std::string label = "route=\"" + prometheus_label(route) + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << "flotilla_http_request_duration_seconds_bucket{" << label << ",le=\"" << kBuckets[i] << "\"} " << h.buckets[i] << "\n";
    }
    out << "flotilla_http_request_duration_seconds_bucket{" << label << ",le=\"+Inf\"} " << h.count << "\n"
        << "flotilla_http_request_duration_seconds_sum{" << label << "} " << h.sum << "\n"
        << "flotilla_http_request_duration_seconds_count{" << label << "} " << h.count << "\n";
  }
  out << "# HELP flotilla_bundle_bytes_served_total Bundle bytes sent to devices and operators.\n"
      << "# TYPE flotilla_bundle_bytes_served_total counter\n"
      << "flotilla_bundle_bytes_served_total " << bundle_bytes_ << "\n";
  return out.str();
}

}  // namespace flotilla::server::api
