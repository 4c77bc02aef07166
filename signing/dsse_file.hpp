// A DSSE envelope written around a payload file too large to hold in
// memory: a compliance report of a large fleet. The envelope is an
// ordinary one (dsse.hpp verifies it); only the writing streams.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/error.hpp"
#include "signing/key.hpp"

namespace flotilla::signing {

// Writes `out` as {"payloadType": T, "payload": base64(file), "signatures":
// [{"keyid", "sig"}]} in one pass over the payload. An ECDSA key signs the
// SHA-256 of PAE(T, file) computed while the payload streams, so memory
// stays flat; an Ed25519 key must see the whole message (OpenSSL 3.0 has
// no pre-hashed Ed25519), so the payload is read into memory for it.
common::Status write_envelope_file(std::string_view payload_type, const std::filesystem::path& payload,
                                   const PrivateKey& key, const std::filesystem::path& out);

}  // namespace flotilla::signing
