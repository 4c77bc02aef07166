// What a gateway keeps of its children (docs/gateway.md), in
// state_dir/gateway.db beside the agent's own state (SQLite, WAL,
// synchronous=FULL): the children its adapters reached and what was last
// reported for each; each child's update and the stage it reached,
// written before the step that follows it runs, so a power cut resumes
// every child where it was; and the children's events, resent until the
// server has them. Thread-safe: children are updated in parallel.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/sqlite.hpp"

namespace flotilla::client {

// A child's update, as the gateway works through it:
//   installing → activating → verifying → committed
// with failed, rolled_back and interrupted (tried again at the next offer).
struct ChildUpdate {
  std::string device_id;
  std::int64_t deployment_id = 0;
  std::string file_sha256, component, version;
  std::string stage;
  std::string message;
};

struct KnownChild {
  std::string device_id, child_id, device_type, adapter;
  std::string identity = "{}";         // JSON object, as the adapter lists it
  std::int64_t counter = 0;            // the last inventory counter used
  std::optional<std::string> sent;     // the content last accepted by the server
  std::int64_t sent_at = 0;            // Unix seconds
};

class GatewayState {
 public:
  static common::Result<std::unique_ptr<GatewayState>> open(const std::filesystem::path& state_dir);

  common::Status remember_child(const KnownChild& child);
  common::Result<std::optional<KnownChild>> child(const std::string& device_id);
  common::Status set_inventory_sent(const std::string& device_id, std::int64_t counter, const std::string& content,
                                    std::int64_t at);
  common::Status set_counter(const std::string& device_id, std::int64_t counter);

  // When the children were last listed (Unix seconds; 0: never). Kept
  // here because `flotilla-agent run` is a new process every poll.
  common::Result<std::int64_t> last_scan();
  common::Status set_last_scan(std::int64_t unix_seconds);

  common::Result<std::optional<ChildUpdate>> update(const std::string& device_id);
  // Writes the update's new stage and queues the event that says so, in
  // one transaction (the event's seq continues the child's sequence).
  common::Status advance(const ChildUpdate& update, const std::string& event_state, int progress,
                         const std::optional<std::string>& running_version, const std::string& time);
  // An event without a change of stage (progress while installing).
  common::Status queue_progress(const ChildUpdate& update, int progress, const std::string& time);

  struct Event {
    std::int64_t id = 0;
    std::string device_id;
    std::int64_t deployment_id = 0, seq = 0;
    std::string state;
    int progress = 0;
    std::string message, time;
    std::optional<std::string> running_version;
  };
  common::Result<std::vector<Event>> pending_events(std::int64_t limit);
  common::Status drop_event(std::int64_t id);

 private:
  explicit GatewayState(common::Database db) : db_(std::move(db)) {}
  common::Status queue_locked(const ChildUpdate& update, const std::string& state, int progress,
                              const std::optional<std::string>& running_version, const std::string& time);
  std::mutex mutex_;
  common::Database db_;
};

}  // namespace flotilla::client
