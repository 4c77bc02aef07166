// A field gateway's side of the agent (docs/gateway.md): the children
// its adapters reach are devices of their own on the server. After each
// poll of its own, the gateway reports their inventories (signed with its
// key), downloads each offered bundle once, verifies it against the trust
// root (the children cannot), and updates the children offered it through
// their adapters, a bounded number at once, reporting each child's events.
//
// Interrupted is not failed: a child that cannot be reached stays in
// progress and is tried again at the next offer; after a power cut every
// child resumes from the stage it reached (gateway_state.hpp), and a
// child found already running the offered version is committed.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "client/agent.hpp"
#include "client/child_adapter.hpp"
#include "client/gateway_state.hpp"
#include "client/transport.hpp"

namespace flotilla::client {

// How the gateway reaches the server: through the agent's connection,
// with its bearer token and its key.
class ServerLink {
 public:
  virtual ~ServerLink() = default;
  // A request with the device token and, over `body`, the gateway's signature.
  virtual common::Result<HttpResponse> send_signed(const std::string& method, const std::string& path,
                                                   const std::string& body) = 0;
  // How to download an offered bundle (credentials, CA, a mirror's fallback).
  virtual DownloadOptions download_options(const common::Json& bundle) = 0;
  // The time to stamp on requests (the device clock, corrected by the server's).
  virtual common::TimePoint request_time() const = 0;
};

// The server's id of a child: hex SHA-256 of "flotilla-child:<type>:<id>".
std::string child_device_id(const std::string& device_type, const std::string& child_id);

class Gateway {
 public:
  static common::Result<std::unique_ptr<Gateway>> open(Agent& agent);

  // Before the poll: delivers the children's queued events, and notes
  // whether any were left (an offer of a finished update is then not a retry).
  void before_poll(ServerLink& link);
  // After the poll: scans the children when due, reports their
  // inventories, and works through the children's offers in `answer`.
  common::Status after_poll(const common::Json& answer, ServerLink& link);

 private:
  Gateway(Agent& agent, std::unique_ptr<GatewayState> state, std::vector<ChildAdapter> adapters)
      : agent_(agent), state_(std::move(state)), adapters_(std::move(adapters)) {}

  struct Offer {
    std::string device_id;
    std::int64_t deployment_id = 0;
    common::Json bundle;
    bool allow_downgrade = false;
    common::Json activate_window;  // null, or {start, end, until?}: switch only inside it
  };
  struct Bundle {  // verified and unpacked
    std::filesystem::path dir;
    artifacts::Manifest manifest;
  };

  common::Status scan(ServerLink& link);
  // Sends the child's inventory when it changed or is due; its versions now.
  common::Status report(ServerLink& link, const KnownChild& child, const std::map<std::string, ComponentState>& versions);
  common::Status deliver(ServerLink& link);
  // The offered bundle, downloaded once and verified; kIo when the
  // download did not complete (the children's updates are interrupted).
  common::Result<Bundle> fetch(ServerLink& link, const common::Json& bundle);
  // One child's update, from the stage it reached.
  void update_child(const Offer& offer, const Bundle& bundle);
  ChildAdapter* adapter(const std::string& name);
  void note_updated(const std::string& device_id);
  // Progress the adapters of running installs wrote, as events.
  void note_progress();
  std::string now_text() const;

  Agent& agent_;
  std::unique_ptr<GatewayState> state_;
  std::vector<ChildAdapter> adapters_;
  bool outbox_pending_at_poll_ = false;
  std::mutex running_mutex_;  // guards running_ and updated_ (written by the worker threads)
  std::map<std::string, std::pair<ChildUpdate, int>> running_;  // device id → installing update, progress sent
  std::set<std::string> updated_;  // children whose versions changed this round: reported at once
};

}  // namespace flotilla::client
