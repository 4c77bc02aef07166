// hawkBit's Direct Device Integration API (docs/ddi.md): the JSON a DDI
// client (SWUpdate's suricatta, rauc-hawkbit-updater) reads and sends,
// without transport or store, so every shape is tested on its own.
//
// Threats handled here: feedback is untrusted text from the network, so it
// is parsed strictly (known keys only, bounded sizes, a closed set of
// words) and what is kept of it is capped; a client's action id is only a
// number here, whose it is the routes decide.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"

namespace flotilla::server::ddi {

inline constexpr std::string_view kDefaultTenant = "default";
// Bytes of feedback details kept as the event's message.
inline constexpr std::size_t kMaxDetailBytes = 1024;

// hawkBit's controller ids are free text; here they are kept to what fits
// a URL path segment and a file name unescaped: [A-Za-z0-9._:@-]{1,128}.
bool is_controller_id(std::string_view id);
// The device id a controller id is registered under: stable, 64 hex like
// every device id, and never the key id of a device key (a domain prefix).
std::string device_id_for(std::string_view controller_id);

// The CN of an RFC 2253 subject ("CN=sw-0042,O=Example"), unescaped;
// nullopt when there is none.
std::optional<std::string> common_name(std::string_view subject);

// "HH:MM:SS", as hawkBit writes config.polling.sleep.
std::string polling_sleep(int seconds);

// The base poll's answer. `action` is the device's open action id, if any,
// linked as deploymentBase or, when `cancel`, as cancelAction; `want_config`
// asks the client for its configData.
common::Json base_poll(const std::string& controller_url, int sleep_seconds, std::optional<std::int64_t> action,
                       bool want_config, bool cancel = false);
// GET cancelAction/{id}: the action to stop.
common::Json cancel_action(std::int64_t id);

struct Artifact {
  std::string filename;
  std::uint64_t size = 0;
  std::string sha1, md5, sha256;
};

struct Action {
  std::int64_t id = 0;
  std::string part;     // the bundle's kind: os, driver, firmware
  std::string name;     // the bundle's name
  std::string version;  // the bundle's version
  std::vector<Artifact> artifacts;
  // Where the artifacts are: controller_url + "/softwaremodules/<id>/artifacts/<filename>".
  std::string controller_url;
  // When the rollout activates only in windows: whether one is open now
  // (hawkBit's maintenanceWindow). The base poll exposes no action outside
  // them, so a client that ignores the field still waits.
  std::optional<bool> in_window;
};

common::Json deployment_base(const Action& action);
common::Json installed_base(const Action& action);

// What a feedback body says, reduced to what the server records.
enum class Outcome {
  kProgress,   // proceeding, scheduled, resumed, download, downloaded without the last chunk done
  kInstalled,  // every chunk installed (progress cnt == of), or downloaded: waiting for activation
  kSuccess,    // closed + success
  kFailure,    // closed + failure or none, rejected
  kCanceled,   // canceled
};

struct Feedback {
  std::optional<std::int64_t> id;  // "id": the action, as a number or a string
  std::string execution;
  std::string finished;            // success | failure | none
  std::optional<std::int64_t> done, of;
  std::string details;             // joined, capped at kMaxDetailBytes
  Outcome outcome = Outcome::kProgress;
  int percent() const;             // 0..100 from done/of
};

// Parses a feedback body strictly; errors name the field.
common::Result<Feedback> parse_feedback(const std::string& body);

// A configData body ({"data": {...}, "mode": "merge|replace|remove", ...})
// applied to the attributes kept so far (a JSON object, maybe empty).
common::Result<common::Json> apply_config_data(const std::string& body, const common::Json& attributes);

}  // namespace flotilla::server::ddi
