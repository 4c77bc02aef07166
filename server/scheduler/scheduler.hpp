// The rollout scheduler (DESIGN.md §7, §10): advances every live rollout
// and precomputes each device's offer, so a poll stays one indexed lookup.
//
// Crash-safe by construction: a pass reads the store, runs the pure engine
// and writes everything it decided for a rollout in one transaction. A
// server killed mid-pass loses that pass only; the next one recomputes it
// from what was committed, and an offer row exists at most once per
// device and attempt.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/store/store.hpp"

namespace flotilla::server {

struct PassSummary {
  int rollouts = 0;
  int skipped = 0;  // rollouts nothing touched since a pass that changed nothing
  std::int64_t offers = 0;
  std::int64_t devices = 0;  // devices evaluated
  std::vector<std::string> errors;
};

// What the scheduler remembers between passes, per rollout: a rollout
// whose last pass changed nothing is skipped until the store reports a
// relevant write, a time it waits for comes (soak end, a device timeout,
// not_before), or the heartbeat (a minute) passes. Rollouts held by pace
// or maintenance windows are evaluated every pass: time alone frees them.
struct SchedulerMemory {
  struct Seen {
    std::int64_t generation = 0;
    common::TimePoint due;
  };
  std::map<std::int64_t, Seen> rollouts;
};

// One pass over every rollout that is not finished for good; with memory,
// rollouts nothing touched are skipped.
PassSummary run_scheduler_pass(Store& store, common::TimePoint now, SchedulerMemory* memory = nullptr);

// One pass over one rollout. Returns when it next needs a pass if nothing
// changes (nullopt: at the next one).
common::Result<std::optional<common::TimePoint>> advance_rollout(Store& store, const RolloutRecord& rollout,
                                                                 common::TimePoint now, PassSummary* summary = nullptr);

// Runs passes on a thread: every `interval`, and soon after wake(). When
// several servers share the store, only the one holding the scheduler
// lease (Store::hold_scheduler_lease) runs passes; the others try to take
// it every interval, so one of them takes over within an interval of the
// holder's death.
class Scheduler {
 public:
  using Clock = std::function<common::TimePoint()>;
  Scheduler(Store& store, Clock clock, std::chrono::milliseconds interval);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  void stop();
  void wake();
  // This server holds the lease and runs the rollouts (false while
  // another server does, or before the first try). Thread-safe.
  bool running_rollouts() const { return leading_.load(); }

 private:
  void loop();
  // Takes or keeps the lease; logs when that changes. False: skip the pass.
  bool lead();

  Store& store_;
  Clock clock_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
  SchedulerMemory memory_;  // used by the scheduler thread only
  std::atomic<bool> leading_{false};
  std::string last_lease_error_;  // logged once until it changes
  bool told_standby_ = false;
};

}  // namespace flotilla::server
