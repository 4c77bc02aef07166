// `flotilla-agent run`: the device's conversation with the server
// (DESIGN.md §5, §8). Enroll with the device key, report signed inventory,
// deliver the outbox of signed events, poll, and take an offered update
// through the install pipeline; after the trial boot, commit or roll back
// and report it. Polls at the server's interval with ±10 % jitter, backing
// off exponentially while the server cannot be reached.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "client/agent.hpp"
#include "client/gateway.hpp"
#include "client/transport.hpp"
#include "signing/key.hpp"

namespace flotilla::client {

inline constexpr const char* kAgentVersion = "0.1.0";

class Daemon final : private ServerLink {
 public:
  // Loads or creates the device key (state_dir/device.key, 0600).
  static common::Result<std::unique_ptr<Daemon>> open(Agent& agent);
  // With the device key already loaded (a simulator keeps each device's
  // key between turns: OpenSSL 3's PEM decoding costs more than a poll).
  static common::Result<std::unique_ptr<Daemon>> open(Agent& agent, signing::PrivateKey key);
  const signing::PrivateKey& key() const { return key_; }

  struct RunOptions {
    bool once = false;             // one cycle, then return
    std::chrono::seconds backoff{0};  // carried over from the previous process
    // Return after the first cycle with the wait instead of sleeping: the
    // caller rests in another, smaller process (flotilla-agent-wait).
    bool rest_elsewhere = false;
  };
  struct RunEnd {
    int exit_code = 0;
    // Set when rest_elsewhere: how long to rest before the next cycle,
    // and the backoff that cycle starts from.
    std::optional<std::chrono::milliseconds> rest;
    std::chrono::seconds backoff{0};
  };
  // Runs until `stop` is set (or one cycle, see RunOptions). The exit code
  // is 0, or the configured reboot exit code when an update waits for its
  // trial boot and the reboot mode is "exit".
  RunEnd run(const std::atomic<bool>& stop, const RunOptions& options);

  // One round: commit after a trial boot, auth, inventory, outbox, poll,
  // install. Returns the seconds until the next poll, or the exit code to
  // leave with (a reboot). run() calls it in a loop; flotilla-fleet-sim
  // calls it for each of its virtual devices.
  struct Next {
    std::chrono::seconds wait{60};
    std::optional<int> exit_code;
  };
  common::Result<Next> cycle();

 private:
  Daemon(Agent& agent, signing::PrivateKey key, Transport transport)
      : agent_(agent), key_(std::move(key)), transport_(std::move(transport)) {}

  // ServerLink, for the gateway's children (docs/gateway.md).
  common::Result<HttpResponse> send_signed(const std::string& method, const std::string& path, const std::string& body) override;
  DownloadOptions download_options(const common::Json& bundle) override;

  common::Status authenticate();
  common::Status report_inventory(bool required);
  std::string poll_body();
  common::Status deliver_outbox();
  common::Status follow_root(std::int64_t offered);
  common::Result<std::optional<int>> take_update(const common::Json& update);
  std::optional<Agent::Installed> download_and_install(const common::Json& update, std::int64_t deployment,
                                                       const UpdateState& current);
  std::optional<int> reboot();
  common::Result<Next> cycle_unguarded();
  // An update that waits to be switched to (written, or armed with its
  // reboot not come): inside its activation window arms its trial if
  // need be and asks for the reboot; outside it nothing (nullopt).
  common::Result<std::optional<int>> switch_when_due(const UpdateState& current);
  std::vector<std::string> signed_headers(const std::string& body) const;
  void restore();
  // The time stamped on requests: the device's clock, corrected by what
  // the server said its time was when it refused a timestamp.
  common::TimePoint request_time() const override;

  Agent& agent_;
  std::unique_ptr<Gateway> gateway_;  // when the config has a gateway section
  signing::PrivateKey key_;
  Transport transport_;
  std::optional<std::string> token_;
  std::string inventory_digest_;
  std::int64_t inventory_report_counter_ = 0;
  int poll_interval_s_ = 60;
  std::chrono::seconds server_offset_{0};
  bool correcting_clock_ = false;  // one retry per refusal
  // Events were still unsent when the last poll went out: its offer of a
  // deployment this agent already finished is not a retry.
  bool outbox_pending_at_poll_ = true;
};

}  // namespace flotilla::client
