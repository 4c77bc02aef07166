// Builds a signed .flb bundle from payload files.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "artifacts/manifest.hpp"
#include "signing/key.hpp"

namespace flotilla::artifacts {

enum class Compression { kNone, kZstd };

struct PayloadInput {
  Payload payload;                 // name, type and its type's fields; size and sha256 are computed
  std::filesystem::path source;    // the file whose bytes become the payload
};

struct BundleSpec {
  Manifest manifest;               // everything but payloads, which come from `inputs`
  std::vector<PayloadInput> inputs;
  Compression compression = Compression::kNone;
};

struct WrittenBundle {
  Manifest manifest;
  std::string bundle_id;           // hex SHA-256 of the manifest payload bytes
};

// Hashes every input, writes the manifest signed by every key, then the
// payloads in manifest order, into a temporary file renamed to `out` only
// when complete. Fails if an input changes while it is being bundled.
// `progress` gets the bytes processed so far (payloads are read twice:
// once to hash for the manifest, once to copy) and the total.
common::Result<WrittenBundle> write_bundle(
    const BundleSpec& spec, const std::vector<const signing::PrivateKey*>& keys,
    const std::filesystem::path& out,
    const std::function<void(std::uint64_t done, std::uint64_t total)>& progress = {});

}  // namespace flotilla::artifacts
