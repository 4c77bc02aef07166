#include "artifacts/reader.hpp"

#include <set>

#include "artifacts/errors.hpp"
#include "artifacts/tar_stream.hpp"
#include "signing/digest.hpp"

namespace flotilla::artifacts {

using common::fail;
using common::Result;
using common::Status;

namespace {

constexpr std::string_view kManifestEntry = "manifest.dsse.json";
constexpr std::string_view kPayloadPrefix = "payloads/";

// Absolute names and ".." components are named as such (not merely as
// "unexpected"), since they are attacks, not mistakes.
bool is_unsafe_path(std::string_view path) {
  if (path.empty() || path.front() == '/') return true;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = path.find('/', start);
    if (path.substr(start, slash == std::string_view::npos ? slash : slash - start) == "..") {
      return true;
    }
    if (slash == std::string_view::npos) return false;
    start = slash + 1;
  }
}

// Checks that a header is exactly the entry expected next.
Status expect_entry(const detail::EntryHeader& header, std::string_view expected_path,
                    std::optional<std::uint64_t> expected_size,
                    const std::set<std::string, std::less<>>& seen) {
  if (is_unsafe_path(header.path)) {
    return fail(Errc::kUnsafePath, "entry \"" + header.path.substr(0, 200) +
                                       "\" has an absolute or '..' path");
  }
  if (!header.regular) {
    return fail(Errc::kNotRegularFile,
                "entry \"" + header.path.substr(0, 200) + "\" is not a regular file");
  }
  if (header.path != expected_path) {
    if (seen.contains(header.path)) {
      return fail(Errc::kDuplicateEntry, "entry \"" + header.path.substr(0, 200) + "\" appears twice");
    }
    return fail(Errc::kUnexpectedEntry, "entry \"" + header.path.substr(0, 200) +
                                            "\" where \"" + std::string(expected_path) +
                                            "\" was expected");
  }
  if (!header.size_known) {
    return fail(Errc::kSizeMismatch, "entry \"" + header.path + "\" does not declare its size");
  }
  if (expected_size && header.size != *expected_size) {
    return fail(Errc::kSizeMismatch, "entry \"" + header.path + "\" has " +
                                         std::to_string(header.size) + " bytes, the manifest says " +
                                         std::to_string(*expected_size));
  }
  return {};
}

Result<std::string> read_manifest_entry(detail::TarStream& tar, std::set<std::string, std::less<>>& seen) {
  auto header = tar.next();
  if (!header) return std::unexpected(header.error());
  if (!*header) return fail(Errc::kUnexpectedEntry, "the archive is empty; expected the manifest first");
  if (auto ok = expect_entry(**header, kManifestEntry, std::nullopt, seen); !ok) {
    return std::unexpected(ok.error());
  }
  if ((*header)->size > signing::kMaxEnvelopeBytes) {
    return fail(Errc::kManifestTooLarge, "manifest entry has " + std::to_string((*header)->size) +
                                             " bytes, the limit is " +
                                             std::to_string(signing::kMaxEnvelopeBytes));
  }
  seen.insert(std::string(kManifestEntry));
  std::string text;
  text.reserve((*header)->size);
  for (;;) {
    auto block = tar.read_block();
    if (!block) return std::unexpected(block.error());
    if (block->empty()) break;
    text.append(common::as_text(*block));
  }
  if (text.size() != (*header)->size) {
    return fail(Errc::kTruncated, "manifest entry ends before its declared size");
  }
  return text;
}

struct ManifestEntry {
  signing::Envelope envelope;
  std::size_t entry_size = 0;
};

// The first entry, parsed as a DSSE envelope (nothing verified yet).
Result<ManifestEntry> read_manifest_envelope(detail::TarStream& tar,
                                             std::set<std::string, std::less<>>& seen) {
  auto text = read_manifest_entry(tar, seen);
  if (!text) return common::propagate(text, "reading manifest");
  auto envelope = signing::parse_envelope(*text);
  if (!envelope) return common::propagate(envelope, "manifest envelope");
  return ManifestEntry{std::move(*envelope), text->size()};
}

// Streams one payload entry into its sink while hashing. The sink is
// finished only if size and digest match.
Status stream_payload(detail::TarStream& tar, const Payload& payload, PayloadSink& sink,
                      std::uint64_t& done, const VerifyOptions& options, std::uint64_t total) {
  signing::Sha256 hasher;
  std::uint64_t written = 0;
  for (;;) {
    auto block = tar.read_block();
    if (!block) return std::unexpected(block.error());
    if (block->empty()) break;
    // libarchive stops at the entry size, which was checked against the
    // manifest; this guards the invariant rather than trusting it.
    if (block->size() > payload.size - written) {
      return fail(Errc::kSizeMismatch, "payload \"" + payload.name + "\" is longer than declared");
    }
    hasher.update(*block);
    if (auto ok = sink.write(*block); !ok) return std::unexpected(ok.error().with_context("payload \"" + payload.name + "\""));
    written += block->size();
    done += block->size();
    if (options.progress) options.progress(done, total);
  }
  if (written != payload.size) {
    return fail(Errc::kTruncated, "payload \"" + payload.name + "\" ends before its declared size");
  }
  if (hasher.finish_hex() != payload.sha256) {
    return fail(Errc::kDigestMismatch, "payload \"" + payload.name + "\" does not match its SHA-256");
  }
  if (auto ok = sink.finish(); !ok) return std::unexpected(ok.error().with_context("payload \"" + payload.name + "\""));
  return {};
}

// Aborts every sink it holds unless released after a full commit.
class OpenSinks {
 public:
  ~OpenSinks() {
    for (auto& sink : sinks_) sink->abort();
  }
  PayloadSink& add(std::unique_ptr<PayloadSink> sink) { return *sinks_.emplace_back(std::move(sink)); }
  Status commit_all() {
    for (std::size_t i = 0; i < sinks_.size(); ++i) {
      if (auto ok = sinks_[i]->commit(); !ok) {
        // The committed ones stay committed (the agent rolls back); the
        // rest are aborted by the destructor.
        sinks_.erase(sinks_.begin(), sinks_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        return std::unexpected(ok.error().with_context("committing payload"));
      }
    }
    sinks_.clear();
    return {};
  }

 private:
  std::vector<std::unique_ptr<PayloadSink>> sinks_;
};

}  // namespace

Status check_device(const Manifest& manifest, const DeviceContext& device) {
  if (!manifest.is_compatible_with(device.device_type)) {
    return fail(Errc::kIncompatible, "bundle is not compatible with device type \"" +
                                         device.device_type + "\"");
  }
  for (const auto& requirement : manifest.requires_) {
    auto installed = device.installed.find(requirement.component);
    if (installed == device.installed.end()) {
      return fail(Errc::kRequirementNotMet, "requires " + requirement.component + " " +
                                                requirement.range.text() +
                                                ", which the device does not have");
    }
    if (!requirement.range.contains(installed->second.version)) {
      return fail(Errc::kRequirementNotMet,
                  "requires " + requirement.component + " " + requirement.range.text() +
                      ", the device runs " + installed->second.version.text());
    }
  }
  auto current = device.installed.find(manifest.component);
  if (current != device.installed.end()) {
    // Anti-rollback: whatever the server says, never below the stored
    // security version (an old release may carry a fixed vulnerability).
    if (manifest.security_version < current->second.security_version) {
      return fail(Errc::kSecurityVersionTooLow,
                  "security_version " + std::to_string(manifest.security_version) +
                      " is below the installed " + std::to_string(current->second.security_version));
    }
    if (manifest.version < current->second.version && !device.allow_downgrade) {
      return fail(Errc::kDowngrade, "version " + manifest.version.text() + " is lower than the installed " +
                                        current->second.version.text() +
                                        " and the deployment does not allow downgrades");
    }
  }
  return {};
}

Result<VerifiedBundle> read_bundle(ByteSource& source, const VerifyOptions& options,
                                   SinkFactory& sinks) {
  if (options.root == nullptr) return fail(Errc::kBadInput, "no trust root to verify against");
  if (auto ok = options.root->check_current(options.now); !ok) return std::unexpected(ok.error());

  detail::TarStream tar(source);
  std::set<std::string, std::less<>> seen;
  auto entry = read_manifest_envelope(tar, seen);
  if (!entry) return std::unexpected(entry.error());
  auto& envelope = entry->envelope;

  // Verify the signed bytes first, then parse exactly those bytes.
  auto payload = options.root->verify_release(envelope, signing::kManifestType);
  if (!payload) return common::propagate(payload, "manifest signature");
  if (options.expected_bundle_id && signing::sha256_hex(*payload) != *options.expected_bundle_id) {
    return fail(Errc::kNotOffered, "the bundle " + signing::sha256_hex(*payload) + " is not the offered bundle " +
                                       options.expected_bundle_id->substr(0, 80));
  }
  auto manifest = parse_manifest(*payload);
  if (!manifest) return common::propagate(manifest, "manifest");

  if (options.device_type && !manifest->is_compatible_with(*options.device_type)) {
    return fail(Errc::kIncompatible,
                "bundle is not compatible with device type \"" + *options.device_type + "\"");
  }
  if (options.device) {
    if (auto ok = check_device(*manifest, *options.device); !ok) return std::unexpected(ok.error());
  }

  std::uint64_t total = 0;
  for (const auto& p : manifest->payloads) total += p.size;
  std::uint64_t done = 0;
  OpenSinks open_sinks;
  for (const auto& p : manifest->payloads) {
    std::string expected_path = std::string(kPayloadPrefix) + p.name;
    auto header = tar.next();
    if (!header) return std::unexpected(header.error());
    if (!*header) {
      return fail(Errc::kUnexpectedEntry, "the archive ends before payload \"" + p.name + "\"");
    }
    if (auto ok = expect_entry(**header, expected_path, p.size, seen); !ok) {
      return std::unexpected(ok.error());
    }
    seen.insert(expected_path);
    if (options.on_payload) options.on_payload(static_cast<std::size_t>(&p - manifest->payloads.data()), p, (*header)->data_offset);
    auto sink = sinks.open(*manifest, p);
    if (!sink) return std::unexpected(sink.error().with_context("payload \"" + p.name + "\""));
    if (auto ok = stream_payload(tar, p, open_sinks.add(std::move(*sink)), done, options, total);
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  auto trailing = tar.next();
  if (!trailing) return std::unexpected(trailing.error());
  if (*trailing) {
    if (auto ok = expect_entry(**trailing, "(end of archive)", std::nullopt, seen); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (auto ok = open_sinks.commit_all(); !ok) return std::unexpected(ok.error());

  VerifiedBundle verified{std::move(*manifest), signing::sha256_hex(envelope.payload),
                          std::move(envelope)};
  return verified;
}

Result<Inspection> inspect_bundle(ByteSource& source) {
  detail::TarStream tar(source);
  std::set<std::string, std::less<>> seen;
  auto entry = read_manifest_envelope(tar, seen);
  if (!entry) return std::unexpected(entry.error());
  auto& envelope = entry->envelope;
  Inspection inspection;
  inspection.bundle_id = signing::sha256_hex(envelope.payload);
  auto manifest = parse_manifest(envelope.payload);
  if (manifest) {
    inspection.manifest = std::move(*manifest);
  } else {
    inspection.manifest_error = manifest.error();
  }
  inspection.envelope = std::move(envelope);
  inspection.entries.push_back({std::string(kManifestEntry), entry->entry_size, true});
  for (std::size_t count = 0; count <= kMaxPayloads; ++count) {
    auto header = tar.next();
    if (!header) return std::unexpected(header.error());
    if (!*header) return inspection;
    inspection.entries.push_back({(*header)->path, (*header)->size, (*header)->regular});
    for (;;) {
      auto block = tar.read_block();
      if (!block) return std::unexpected(block.error());
      if (block->empty()) break;
    }
  }
  return fail(Errc::kUnexpectedEntry, "more entries than a bundle may hold");
}

}  // namespace flotilla::artifacts
