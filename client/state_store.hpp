// The agent's persistent state (DESIGN.md §8): SQLite in the state dir,
// WAL with synchronous=FULL. Each update state is written here before its
// action runs, so a power cut at any instant resumes from what is on disk.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/env.hpp"
#include "client/lifecycle.hpp"
#include "common/error.hpp"
#include "common/sqlite.hpp"
#include "common/time.hpp"

namespace flotilla::client {

struct ComponentState {
  std::string version;
  std::int64_t security_version = 0;
};

// The update in progress, or the last one's outcome; its stages and the
// steps between them are client/lifecycle.hpp (DESIGN.md §8).
struct UpdateState {
  Stage state = Stage::kIdle;
  std::optional<std::int64_t> deployment_id;  // absent for a local install
  std::string bundle_id;
  std::string component;
  std::string version;            // being installed
  std::int64_t security_version = 0;
  std::string target_slot;        // "a" or "b"; empty when no reboot is needed
  std::string boot_id;            // of the boot that armed its trial (before: that installed it)
  std::string previous_version;   // what ran before
  std::string error;
  std::string updated_at;
};

class StateStore {
 public:
  // Opens (creating) state_dir/agent.db; the first open records the
  // factory image's versions. Each stage written is a point `env` is told
  // of (Env::reached) once it is durable.
  static common::Result<StateStore> open(const std::filesystem::path& state_dir,
                                         const std::map<std::string, ComponentState>& initial, Env& env = system_env());

  common::Result<std::map<std::string, ComponentState>> components();
  common::Result<UpdateState> update();
  // Writes the new state and queues its event, in one transaction.
  common::Status set_update(const UpdateState& update, const std::string& message = "");
  // Sets a component's installed version and security version (commit).
  common::Status set_component(const std::string& name, const ComponentState& state);
  // Files a file payload replaced, to restore on rollback.
  common::Status set_rollback_files(const std::vector<std::string>& paths);
  common::Result<std::vector<std::string>> rollback_files();
  // Commit: the component advances and the update ends, atomically.
  common::Status commit_update(const UpdateState& update);
  common::Result<std::int64_t> outbox_size();
  struct Event {
    std::int64_t id = 0;
    std::int64_t deployment_id = 0;
    std::int64_t seq = 0;
    Stage state = Stage::kIdle;
    std::string message, time;
    std::optional<std::string> running_version;
  };
  // Oldest first: events are delivered in order.
  common::Result<std::vector<Event>> pending_events(std::int64_t limit);
  // The server has it (or refused it for good): it leaves the outbox (the
  // newest sent event of a deployment is kept so seq keeps growing).
  common::Status drop_event(std::int64_t id);
  common::Result<std::optional<std::string>> setting(const std::string& key);
  common::Status set_setting(const std::string& key, const std::string& value);
  // The latest trusted time seen (bundle creation, server Date): a floor
  // for the clock, so turning it back does not revive an expired root.
  common::Result<common::TimePoint> trusted_time();
  common::Status raise_trusted_time(common::TimePoint seen);

 private:
  StateStore(common::Database db, Env& env) : db_(std::move(db)), env_(&env) {}
  common::Status queue_event_locked(const UpdateState& update, const std::string& message);
  common::Database db_;
  Env* env_;
};

}  // namespace flotilla::client
