// Error codes of flotilla::artifacts. Tests assert these exactly.
#pragma once

#include "common/error.hpp"

namespace flotilla::artifacts {

enum class Errc {
  kIo = 1,                  // the bundle or a payload file could not be read or written
  kBadArchive,              // not a tar (or compressed tar) libarchive can read
  kTruncated,               // the stream ended inside the archive
  kUnexpectedEntry,         // an entry other than the next expected one (order, extra, missing)
  kDuplicateEntry,          // an entry name seen before
  kUnsafePath,              // an absolute entry name or one with a ".." component
  kNotRegularFile,          // a link, directory, device, fifo or sparse file
  kSizeMismatch,            // an entry size other than the manifest declares
  kManifestTooLarge,        // manifest entry over 1 MiB
  kBadManifest,             // manifest JSON of the wrong shape or values
  kDigestMismatch,          // payload bytes whose SHA-256 is not the declared one
  kIncompatible,            // the device type is not in "compatible"
  kRequirementNotMet,       // an installed version outside a "requires" range
  kSecurityVersionTooLow,   // anti-rollback: security_version below the stored one
  kDowngrade,               // a lower version without allow_downgrade
  kBadInput,                // a bundle spec (writer side) that cannot make a valid bundle
  kNotOffered,              // a genuine bundle, but not the one the server offered (bundle id)
};

}  // namespace flotilla::artifacts

template <>
struct flotilla::common::ErrorDomain<flotilla::artifacts::Errc> {
  static constexpr std::string_view kName = "artifacts";
};
