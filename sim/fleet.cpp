#include "sim/fleet.hpp"

#include <condition_variable>
#include <queue>
#include <thread>

namespace flotilla::sim {

common::Json FleetCounts::to_json() const {
  common::Json out = {{"devices", devices},     {"cycles", cycles},         {"failed_cycles", failed_cycles},
                      {"by_state", by_state},   {"by_version", by_version}, {"by_result", by_result}};
  if (children > 0) {
    out["children"] = children;
    out["children_by_version"] = children_by_version;
  }
  return out;
}

std::string FleetCounts::line() const {
  auto join = [](const std::map<std::string, std::int64_t>& counts) {
    std::string out;
    for (const auto& [name, n] : counts) out += (out.empty() ? "" : ", ") + name + " " + std::to_string(n);
    return out.empty() ? std::string("-") : out;
  };
  auto text = std::to_string(devices) + " devices: " + join(by_state) + " | versions: " + join(by_version) +
              " | results: " + join(by_result);
  if (children > 0) text += " | " + std::to_string(children) + " children: " + join(children_by_version);
  return text;
}

Fleet::Fleet(FleetSettings settings, const std::vector<DeviceSetup>& setups) : settings_(std::move(settings)) {
  for (const auto& setup : setups) devices_.push_back(std::make_unique<VirtualDevice>(settings_, setup));
  views_.resize(devices_.size());
  cycles_.resize(devices_.size());
  failures_.resize(devices_.size());
  for (std::size_t i = 0; i < devices_.size(); ++i) views_[i] = devices_[i]->view();
}

FleetCounts Fleet::counts() const {
  FleetCounts counts;
  std::lock_guard lock(views_mutex_);
  counts.devices = static_cast<std::int64_t>(views_.size());
  for (std::size_t i = 0; i < views_.size(); ++i) {
    ++counts.by_state[views_[i].state];
    if (!views_[i].version.empty()) ++counts.by_version[views_[i].version];
    if (!views_[i].last_result.empty()) ++counts.by_result[views_[i].last_result];
    counts.cycles += cycles_[i];
    counts.failed_cycles += failures_[i];
  }
  return counts;
}

FleetCounts Fleet::counts_with_children() const {
  auto out = counts();
  for (const auto& device : devices_) {
    for (const auto& [version, n] : device->child_versions()) {
      out.children_by_version[version] += n;
      out.children += n;
    }
  }
  return out;
}

void Fleet::run(Clock::duration duration, int threads, const std::atomic<bool>& stop,
                const std::function<void(const FleetCounts&, Clock::duration)>& live) {
  using Due = std::pair<Clock::time_point, std::size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> schedule;
  std::mutex mutex;
  std::condition_variable wake;
  auto started = Clock::now();
  auto end = started + duration;
  // First turns spread over one poll interval (at most 10 s): a fleet
  // does not power on in the same millisecond.
  auto spread = std::min<Clock::duration>(settings_.poll_interval, std::chrono::seconds(10));
  for (std::size_t i = 0; i < devices_.size(); ++i) {
    schedule.push({started + spread * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(devices_.size()), i});
  }
  std::atomic<bool> finished = false;
  auto worker = [&] {
    std::unique_lock lock(mutex);
    while (!finished && !stop) {
      if (schedule.empty()) {
        wake.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
      auto [due, index] = schedule.top();
      auto now = Clock::now();
      if (now >= end) break;
      if (due > now) {
        wake.wait_until(lock, std::min({due, end, now + std::chrono::milliseconds(200)}));
        continue;
      }
      schedule.pop();
      lock.unlock();
      auto& device = *devices_[index];
      auto next = device.step(now, started);
      {
        std::lock_guard views(views_mutex_);
        views_[index] = device.view();
        cycles_[index] = device.cycles();
        failures_[index] = device.requests_failed();
      }
      lock.lock();
      schedule.push({next, index});
      wake.notify_one();
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) workers.emplace_back(worker);
  while (!stop && Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (live) live(counts(), Clock::now() - started);
  }
  finished = true;
  wake.notify_all();
  for (auto& t : workers) t.join();
}

}  // namespace flotilla::sim
