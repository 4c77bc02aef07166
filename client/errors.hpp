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
  kWaitsForReboot,        // an install while another update waits for (or is in) its trial boot
  kNothingToCommit,       // a commit asked for while no update waits for one
  kNothingToRollBack,     // a rollback asked for while no update is in its trial
  kNotAccepted,           // the server has the device waiting for an operator to accept it
  kEnrollmentRefused,     // the server refused the device (token, type, identity, key)
  kBadOffer,              // the server offered an update without a usable bundle, or answered outside the protocol
  kNoSlotClass,           // a raw image for a slot class the device does not have
  kUnsupportedPayloads,   // payloads this device cannot take together (two modules, images with a module)
  kModuleMissing,         // the update module a bundle needs is not installed, or is not known any more
  kModuleAnswer,          // an update module answered something the protocol does not allow
  kBootEnvironment,       // the boot environment is unreadable, or names no slot
  kBootScript,            // a site's bootloader script answered nothing usable
  kInsecureUrl,           // plain http:// to another machine
  kWaitsForWindow,        // a bundle that takes effect as it installs, offered outside its activation window
};

}  // namespace flotilla::client

template <>
struct flotilla::common::ErrorDomain<flotilla::client::Errc> {
  static constexpr std::string_view kName = "client";
};
