// The one-pass streaming bundle verifier (DESIGN.md §4).
//
// Threat model: the bundle comes from an untrusted server, mirror or USB
// stick, and may be crafted. So: the manifest entry must come first and is
// verified against the trust root before anything of it is used; each later
// entry must be exactly the next payload the signed manifest lists (name,
// type, size) before a single byte of it reaches a sink; bytes are hashed
// as they stream past and a sink is committed only after its digest
// matched and the archive ended where the manifest says. The stream is read
// once, from the same source, so nothing can be swapped between verifying
// and installing (the race of RAUC CVE-2020-25860).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "artifacts/manifest.hpp"
#include "artifacts/stream.hpp"
#include "signing/dsse.hpp"
#include "signing/root.hpp"

namespace flotilla::artifacts {

// What the device runs now, per component.
struct InstalledComponent {
  common::Version version;
  std::int64_t security_version = 0;
};

struct DeviceContext {
  std::string device_type;
  std::map<std::string, InstalledComponent, std::less<>> installed;
  bool allow_downgrade = false;
};

struct VerifyOptions {
  const signing::TrustRoot* root = nullptr;  // required
  common::TimePoint now;                     // for the root's expiry
  // When set, compatible / requires / security_version / downgrade are
  // checked against it. Without it only signatures and contents are.
  std::optional<DeviceContext> device;
  // Only the type check (flotilla bundle verify --device-type).
  std::optional<std::string> device_type;
  // Called with the payload bytes done so far and their total.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
  // The bundle id the server offered. Another validly signed bundle (one a
  // mirror, cache or network swapped in: an older release, another
  // component) is refused before any sink is opened: the server decides
  // what a device installs, the signature only that it is genuine.
  std::optional<std::string> expected_bundle_id;
  // Called before each payload's sink opens, with the payload's index and
  // where its data starts in the bundle's bytes (nullopt when the bundle is
  // compressed): what a download needs to resume inside a payload.
  std::function<void(std::size_t index, const Payload& payload, std::optional<std::uint64_t> data_offset)> on_payload;
};

struct VerifiedBundle {
  Manifest manifest;
  std::string bundle_id;  // hex SHA-256 of the manifest payload bytes
  signing::Envelope envelope;
};

// Verifies a bundle and streams its payloads into the sinks `sinks` opens.
// On any failure every opened sink was aborted and none committed.
common::Result<VerifiedBundle> read_bundle(ByteSource& source, const VerifyOptions& options,
                                           SinkFactory& sinks);

// Checks a verified manifest against a device: compatible, requires,
// anti-rollback and downgrade rules. Also used before downloading.
common::Status check_device(const Manifest& manifest, const DeviceContext& device);

// For `bundle inspect`: the manifest and envelope as they are, with no
// trust decision, and the archive's entries (their data skipped, not hashed).
struct BundleEntry {
  std::string path;
  std::uint64_t size = 0;
  bool regular = false;
};
struct Inspection {
  signing::Envelope envelope;
  std::optional<Manifest> manifest;     // absent if it does not parse
  std::optional<common::Error> manifest_error;
  std::string bundle_id;
  std::vector<BundleEntry> entries;
};
common::Result<Inspection> inspect_bundle(ByteSource& source);

}  // namespace flotilla::artifacts
