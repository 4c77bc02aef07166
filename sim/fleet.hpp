// Many virtual devices in one process: a schedule of due times shared by
// a few worker threads, each device stepped by one worker at a time. State
// lives in per-device SQLite files opened for the step and closed after
// it, so thousands of devices cost neither file descriptors nor memory
// while they wait (docs/decisions.md).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/json.hpp"
#include "sim/virtual_device.hpp"

namespace flotilla::sim {

struct FleetCounts {
  std::int64_t devices = 0, cycles = 0, failed_cycles = 0;
  std::map<std::string, std::int64_t> by_state, by_version, by_result;
  std::int64_t children = 0;                          // behind the gateways
  std::map<std::string, std::int64_t> children_by_version;  // filled by Fleet::child_counts
  common::Json to_json() const;
  std::string line() const;  // "200 devices: idle 180, rebooting 2 | 2.4.0: 120, 2.3.0: 80 | rolled_back 3"
};

class Fleet {
 public:
  Fleet(FleetSettings settings, const std::vector<DeviceSetup>& setups);

  // Steps devices until `duration` has passed or `stop` is set, calling
  // `live` about once a second.
  void run(Clock::duration duration, int threads, const std::atomic<bool>& stop,
           const std::function<void(const FleetCounts&, Clock::duration elapsed)>& live);
  FleetCounts counts() const;
  // counts() with the children's firmware versions, read from their
  // simulated flash (for the summary: it reads every child's files).
  FleetCounts counts_with_children() const;

 private:
  FleetSettings settings_;
  std::vector<std::unique_ptr<VirtualDevice>> devices_;
  mutable std::mutex views_mutex_;
  std::vector<DeviceView> views_;  // copies, for counting while workers step
  std::vector<std::int64_t> cycles_, failures_;
};

}  // namespace flotilla::sim
