// Prometheus metrics of the HTTP layer, kept in memory. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace flotilla::server::api {

class Metrics {
 public:
  // `route` is the route pattern ("/api/v1/bundles/{}"), never the raw
  // path, so label cardinality stays bounded.
  void observe(const std::string& method, const std::string& route, int status, double seconds);
  void add_bundle_bytes(std::uint64_t bytes);
  // The text exposition format (version 0.0.4) of what was observed.
  std::string render() const;

 private:
  static constexpr std::array<double, 10> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::uint64_t bundle_bytes_ = 0;
};

// Escapes a label value for the exposition format.
std::string prometheus_label(const std::string& value);

}  // namespace flotilla::server::api
