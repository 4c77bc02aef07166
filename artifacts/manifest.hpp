// The bundle manifest (DESIGN.md §4, docs/bundle-format.md): what a bundle
// updates, for which devices, and the size and SHA-256 of every payload.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/semver.hpp"
#include "common/time.hpp"

namespace flotilla::artifacts {

inline constexpr std::string_view kFormat = "flotilla-bundle/1";
inline constexpr std::size_t kMaxManifestBytes = 1 << 20;
inline constexpr std::size_t kMaxPayloads = 256;
inline constexpr std::size_t kMaxCompatible = 64;
inline constexpr std::size_t kMaxRequires = 64;
inline constexpr std::uint64_t kMaxPayloadSize = std::uint64_t{1} << 50;

// kSwu: a vendor's signed SWUpdate image, served whole to DDI devices
// (docs/ddi.md); a bundle carrying one carries nothing else.
enum class PayloadType { kRawImage, kFile, kModule, kSwu };
std::string_view payload_type_name(PayloadType type);

struct Payload {
  std::string name;          // [A-Za-z0-9._-]{1,128}, unique in the bundle
  PayloadType type = PayloadType::kFile;
  std::string slot;          // raw-image: slot class, e.g. "rootfs"
  std::string path;          // file: absolute destination path
  std::uint32_t mode = 0644; // file: permission bits
  std::string module;        // module: update module name
  std::uint64_t size = 0;    // uncompressed bytes
  std::string sha256;        // lowercase hex of the uncompressed bytes
};

struct Requirement {
  std::string component;
  common::VersionRange range;
};

enum class Kind { kOs, kDriver, kFirmware };
std::string_view kind_name(Kind kind);
std::optional<Kind> parse_kind(std::string_view text);

struct Manifest {
  std::string name;
  Kind kind = Kind::kOs;
  std::string component;
  common::Version version;
  std::int64_t security_version = 0;
  std::vector<std::string> compatible;
  std::vector<Requirement> requires_;  // "requires" in JSON
  common::TimePoint created;
  bool reboot_required = true;
  std::vector<Payload> payloads;
  std::string notes;

  bool is_compatible_with(std::string_view device_type) const;
};

// Parses and validates manifest bytes (already verified). Every field is
// checked; unknown keys are refused, so a signed field is never ignored.
common::Result<Manifest> parse_manifest(std::span<const std::uint8_t> bytes);

// The manifest as JSON text (what the writer signs).
std::string serialize_manifest(const Manifest& manifest);

// Shared by the manifest and the bundle writer: [A-Za-z0-9._-]{1,max}.
bool is_safe_name(std::string_view name, std::size_t max_length = 128);

}  // namespace flotilla::artifacts
