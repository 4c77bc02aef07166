// Error codes of flotilla::server.
#pragma once

#include "common/error.hpp"

namespace flotilla::server {

enum class Errc {
  kReplay = 1,          // a nonce, counter or timestamp seen before or out of window
  kEnrollmentRefused,   // enrollment token unknown, revoked, expired, used up or not for this type
  kBadTransition,       // a deployment event that does not follow the device's state
  kDeviceNotAccepted,   // a device that is pending, rejected or decommissioned
  kNotScheduler,        // a scheduler pass from a server that no longer holds the scheduler lease
};

}  // namespace flotilla::server

template <>
struct flotilla::common::ErrorDomain<flotilla::server::Errc> {
  static constexpr std::string_view kName = "server";
};
