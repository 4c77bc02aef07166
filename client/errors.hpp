// Error codes of flotilla::client. Tests assert these exactly; every
// refusal that protects the device has a code of its own.
#pragma once

#include "common/error.hpp"

namespace flotilla::client {

enum class Errc {
  kSlotMissing = 1,     // a configured slot path does not exist (a typo must never create a file)
  kSlotWrongKind,       // the path is not of its configured kind (block device or regular file)
  kSlotIsBooted,        // the target is the slot, device or file the running system uses
  kSlotInUse,           // the slot is mounted, attached to a loop device, or held exclusively
  kSlotTooSmall,        // the image is larger than the slot
  kSlotReadbackMismatch,  // the slot, read back after writing, does not hold the image
  kBadTransition,         // a lifecycle step the update's stage does not allow (client/lifecycle.hpp)
};

}  // namespace flotilla::client

template <>
struct flotilla::common::ErrorDomain<flotilla::client::Errc> {
  static constexpr std::string_view kName = "client";
};
