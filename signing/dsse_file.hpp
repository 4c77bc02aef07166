// A DSSE envelope written around a payload file too large to hold in
// memory: a compliance report of a large fleet. The envelope is an
// ordinary one (dsse.hpp verifies it); only the writing streams.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "signing/key.hpp"

namespace flotilla::signing {

// Writes `out` as {"payloadType": T, "payload": base64(payload),
// "signatures": [{"keyid", "sig"}]} while the payload is produced, with no
// file of the payload itself: write() base64-encodes the payload's bytes into
// the envelope as they come; finish() reads them back from the envelope
// (decoding them: the PAE names the payload's length before its bytes, so
// the hash can only start once the length is known), signs and ends the
// file. The payload is written once, as base64, and read once from the
// page cache, instead of written, read, and written again as base64.
// An ECDSA key signs the SHA-256 of the PAE, so memory stays flat; an
// Ed25519 key must see the whole message (OpenSSL 3.0 has no pre-hashed
// Ed25519), so finish() gathers the payload in memory for it.
class EnvelopeFileWriter {
 public:
  static common::Result<std::unique_ptr<EnvelopeFileWriter>> open(std::string_view payload_type,
                                                                 const std::filesystem::path& out);
  common::Status write(std::string_view bytes);
  common::Status finish(const PrivateKey& key);

 private:
  EnvelopeFileWriter(std::string payload_type, std::filesystem::path path) : type_(std::move(payload_type)), path_(std::move(path)) {}
  common::Status flush_encoded(bool last);

  std::string type_;
  std::filesystem::path path_;
  std::ofstream out_;
  std::uint64_t payload_at_ = 0;  // where the base64 starts in the file
  std::uint64_t size_ = 0;        // payload bytes so far
  std::string pending_;           // not yet encoded (a multiple of 3 goes out at a time)
};

}  // namespace flotilla::signing
