// Shared test fixtures: temporary directories, keys and roots made at test
// time, in-memory byte sources and sinks that record what they were told.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "artifacts/reader.hpp"
#include "artifacts/writer.hpp"
#include "common/json.hpp"
#include "signing/root.hpp"

namespace flotilla::testing {

// A fresh directory, removed with its contents at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_text(const std::filesystem::path& path);
// How often `needle` occurs in `text` (a console log, a listing).
int count_of(const std::string& text, const std::string& needle);
// A loopback port nothing listens on right now.
int free_port();
// Something listens on 127.0.0.1:port.
bool accepts_connections(int port);
// Nothing is bound to 127.0.0.1:port.
bool port_is_free(int port);
void write_text(const std::filesystem::path& path, const std::string& text);

// A file slot as a partition is on a device: it exists before the agent
// runs, `content` at its start and zeros up to `capacity` bytes.
inline constexpr std::uintmax_t kTestSlotBytes = 1 << 20;
void make_file_slot(const std::filesystem::path& path, const std::string& content,
                    std::uintmax_t capacity = kTestSlotBytes);
// The first `bytes` bytes of a file: an image is written at a slot's start
// and the rest of the slot is left as it was.
std::string read_head(const std::filesystem::path& path, std::size_t bytes);

signing::PrivateKey make_key(signing::Algorithm algorithm = signing::Algorithm::kEd25519);
// The other valid ECDSA P-256 signature of the same message: (r, s) ->
// (r, n - s), DER. What a third party can make from a captured signature.
common::Bytes ecdsa_twin(const common::Bytes& der_signature);

// A root with the given keys (public halves), signed by `signers`.
struct RootParts {
  std::int64_t version = 1;
  std::vector<const signing::PrivateKey*> root_keys;
  std::vector<const signing::PrivateKey*> release_keys;
  std::size_t root_threshold = 1;
  std::size_t release_threshold = 1;
  common::TimePoint expires = common::now_utc() + std::chrono::days(365);
};
signing::RootSpec root_spec(const RootParts& parts);
std::string make_root_json(const RootParts& parts, const std::vector<const signing::PrivateKey*>& signers);
// Signs an arbitrary root payload text (for malformed-root tests).
std::string sign_root_payload(const std::string& payload, const std::vector<const signing::PrivateKey*>& signers);

// A complete trust setup: one root key, one release key, root version 1.
struct TrustSetup {
  signing::PrivateKey root_key = make_key();
  signing::PrivateKey release_key = make_key();
  std::string root_json;
  signing::TrustRoot root;
  TrustSetup();
};

// A manifest with sensible defaults: os "gw-os" 2.4.0, security 7, for gw-x1.
artifacts::Manifest sample_manifest();
// A deployment's children that succeeded and that failed, each failure
// expected to be the example adapter's flash error (docs/gateway.md).
std::pair<int, int> count_flash_outcomes(const common::Json& deployment);
// Firmware for a child device behind a gateway (docs/gateway.md):
// component "firmware", for one device type, no requirements, no reboot.
artifacts::Manifest child_firmware_manifest(const std::string& name, const std::string& version, const std::string& device_type,
                                            std::int64_t security_version = 2);
// The manifest text for `payloads` (name -> content), as a writer would.
std::string manifest_text_for(artifacts::Manifest manifest,
                              const std::vector<std::pair<std::string, std::string>>& payloads);
// A DSSE envelope of a manifest text signed by `key`.
std::string sign_manifest(const std::string& manifest_text, const signing::PrivateKey& key,
                          std::string_view payload_type = signing::kManifestType);

// Reads a string as a stream, optionally in small chunks.
class MemorySource final : public artifacts::ByteSource {
 public:
  explicit MemorySource(std::string data, std::size_t chunk = 1 << 16)
      : data_(std::move(data)), chunk_(chunk) {}
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override;
  std::size_t consumed() const { return offset_; }

 private:
  std::string data_;
  std::size_t chunk_;
  std::size_t offset_ = 0;
};

// Records every sink's bytes and lifecycle.
struct SinkRecord {
  std::string payload;
  std::string bytes;
  bool finished = false;
  bool committed = false;
  bool aborted = false;
};
class RecordingSinkFactory final : public artifacts::SinkFactory {
 public:
  common::Result<std::unique_ptr<artifacts::PayloadSink>> open(const artifacts::Manifest&,
                                                               const artifacts::Payload& payload) override;
  const std::vector<std::shared_ptr<SinkRecord>>& records() const { return records_; }
  std::size_t bytes_written() const;
  bool any_committed() const;

 private:
  std::vector<std::shared_ptr<SinkRecord>> records_;
};

}  // namespace flotilla::testing
