#include "server/scheduler/scheduler.hpp"

#include "common/log.hpp"
#include "server/scheduler/rollout_plan.hpp"

namespace flotilla::server {

namespace {

// Aborted rollouts stay live while they have a rollback to hand out;
// completed ones, to let devices that join later catch up.
const std::vector<RolloutState> kLiveStates(kRolloutStates.begin(), kRolloutStates.end());
constexpr std::int64_t kMaxLiveRollouts = 10000;

}  // namespace

namespace {

constexpr auto kHeartbeat = std::chrono::minutes(1);

// When a pass that changed nothing must run again although nothing was
// written: the earliest time the engine waits for.
std::optional<common::TimePoint> next_due(const LoadedRollout& loaded, const policy::Snapshot& snapshot,
                                          const policy::Evaluation& e, const RolloutPass& pass, common::TimePoint now) {
  bool changed = !pass.placed.empty() || !pass.timed_out.empty() || !pass.offers.empty() ||
                 !pass.rollback_offers.empty() || !pass.completed_waves.empty() || pass.transition;
  if (changed || !e.held_by.empty()) return std::nullopt;  // pace and windows free up with time alone
  auto due = now + kHeartbeat;
  if (e.gates.wake_at) due = std::min(due, *e.gates.wake_at);
  const auto& p = loaded.policy;
  if (p.schedule.not_before && *p.schedule.not_before > now) due = std::min(due, *p.schedule.not_before);
  if (p.device_timeout) {
    for (const auto& [id, progress] : snapshot.progress) {
      if (policy::is_in_progress(progress.state) && progress.started_at) {
        due = std::min(due, *progress.started_at + *p.device_timeout + std::chrono::seconds(1));
      }
    }
  }
  return due;
}

}  // namespace

common::Result<std::optional<common::TimePoint>> advance_rollout(Store& store, const RolloutRecord& rollout,
                                                                 common::TimePoint now, PassSummary* summary) {
  if (rollout.state == RolloutState::kAborted && !rollout.rollback_deployment_id) return now + kHeartbeat;
  auto loaded = load_rollout(store, rollout);
  if (!loaded) return std::unexpected(loaded.error());
  auto loaded_snapshot = load_snapshot(store, rollout, *loaded);
  if (!loaded_snapshot) return std::unexpected(loaded_snapshot.error());
  const auto& snapshot = *loaded_snapshot;
  auto evaluation = policy::evaluate(loaded->policy, snapshot, now);
  auto pass = plan_pass(rollout, *loaded, snapshot, evaluation, now);
  if (pass.transition && pass.transition->event == RolloutEvent::kGuardAbort && loaded->policy.failure &&
      loaded->policy.failure->action == policy::FailureAction::kAbortAndRollback && rollout.rollback_bundle) {
    pass.transition->rollback = DeploymentRecord{.bundle = *rollout.rollback_bundle, .component = loaded->bundle.component,
                                                 .allow_downgrade = true, .created_by = "system:scheduler",
                                                 .created_at = common::format_rfc3339(now)};
  }
  auto status = status_of(*loaded, snapshot, evaluation, pass.offers, now);
  // Interruptions are shown apart: the guard and the rates count failures only.
  auto interrupted = store.count_interruptions(rollout.deployment_id);
  if (!interrupted) return std::unexpected(interrupted.error());
  status["interrupted_devices"] = interrupted->devices;
  status["interruptions"] = interrupted->total;
  pass.status_json = status.dump();
  if (summary) {
    summary->offers += static_cast<std::int64_t>(pass.offers.size());
    summary->devices += static_cast<std::int64_t>(snapshot.fleet.size());
  }
  if (auto ok = store.apply_rollout_pass(pass); !ok) return std::unexpected(ok.error());
  return next_due(*loaded, snapshot, evaluation, pass, now);
}

PassSummary run_scheduler_pass(Store& store, common::TimePoint now, SchedulerMemory* memory) {
  PassSummary summary;
  // Read before the rollouts: a write that lands during the pass makes the
  // next one look again.
  const std::int64_t generation = store.change_generation();
  auto rollouts = store.list_rollouts(kLiveStates, kMaxLiveRollouts);
  if (!rollouts) {
    summary.errors.push_back(rollouts.error().message());
    return summary;
  }
  // Oldest first: among ready rollouts a device gets the oldest (DESIGN.md §7).
  for (auto it = rollouts->rbegin(); it != rollouts->rend(); ++it) {
    ++summary.rollouts;
    if (memory) {
      auto seen = memory->rollouts.find(it->id);
      if (seen != memory->rollouts.end() && seen->second.generation == generation && now < seen->second.due) {
        ++summary.skipped;
        continue;
      }
    }
    auto due = advance_rollout(store, *it, now, &summary);
    if (memory) {
      if (due && *due) {
        memory->rollouts[it->id] = {generation, **due};
      } else {
        memory->rollouts.erase(it->id);
      }
    }
    if (auto ok = due; !ok) {
      // A state change during the pass (an operator's pause) is not an
      // error: the next pass starts from it.
      if (!ok.error().is(common::Errc::kConflict)) {
        summary.errors.push_back("rollout " + std::to_string(it->id) + ": " + ok.error().message());
      }
    }
  }
  return summary;
}

Scheduler::Scheduler(Store& store, Clock clock, std::chrono::milliseconds interval)
    : store_(store), clock_(std::move(clock)), interval_(interval) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() { thread_ = std::thread([this] { loop(); }); }

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  changed_.notify_all();
}

bool Scheduler::lead() {
  auto lease = store_.hold_scheduler_lease();
  if (!lease) {
    if (lease.error().describe() != last_lease_error_) {
      last_lease_error_ = lease.error().describe();
      common::log(common::LogLevel::kError, "scheduler: cannot reach the scheduler lease: " + last_lease_error_);
    }
    leading_ = false;
    return false;
  }
  last_lease_error_.clear();
  bool was_leading = leading_.exchange(*lease);
  if (*lease && !was_leading) {
    memory_ = {};  // what it remembered is from before another server scheduled
    common::log(common::LogLevel::kInfo, "scheduler: this server runs the rollouts");
  } else if (!*lease && (was_leading || !told_standby_)) {
    common::log(common::LogLevel::kInfo, "scheduler: standing by; another server runs the rollouts");
  }
  told_standby_ = !*lease;
  return *lease;
}

void Scheduler::loop() {
  // The first pass runs at once: a restarted server catches up before it
  // waits for anything.
  for (bool first = true;; first = false) {
    if (!first) {
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, interval_, [this] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    if (!lead()) continue;
    auto started = std::chrono::steady_clock::now();
    auto summary = run_scheduler_pass(store_, clock_(), &memory_);
    for (const auto& error : summary.errors) common::log(common::LogLevel::kError, "scheduler: " + error);
    if (summary.offers > 0 || common::log_enabled(common::LogLevel::kDebug)) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      common::log(common::LogLevel::kInfo, "scheduler: " + std::to_string(summary.rollouts) + " rollout(s), " +
                                               std::to_string(summary.devices) + " device(s) evaluated, " +
                                               std::to_string(summary.offers) + " offer(s) in " + std::to_string(ms) + " ms");
    }
  }
}

}  // namespace flotilla::server
