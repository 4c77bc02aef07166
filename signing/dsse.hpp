// DSSE v1 envelopes (secure-systems-lab DSSE), the only container for signed
// documents in Flotilla:
//   {"payloadType": T, "payload": base64(bytes), "signatures": [{"keyid": K, "sig": base64}]}
// Signatures cover PAE(T, bytes) = "DSSEv1" SP len(T) SP T SP len(bytes) SP bytes,
// so a signature for one payload type never verifies as another.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.hpp"
#include "common/error.hpp"
#include "signing/key.hpp"

namespace flotilla::signing {

inline constexpr std::string_view kManifestType = "application/vnd.flotilla.manifest+json";
inline constexpr std::string_view kRootType = "application/vnd.flotilla.root+json";
inline constexpr std::string_view kReportType = "application/vnd.flotilla.report+json";

inline constexpr std::size_t kMaxEnvelopeBytes = 1 << 20;
inline constexpr std::size_t kMaxSignatures = 32;

struct Signature {
  std::string keyid;
  common::Bytes sig;
};

struct Envelope {
  std::string payload_type;
  common::Bytes payload;
  std::vector<Signature> signatures;
};

common::Bytes pae(std::string_view payload_type, std::span<const std::uint8_t> payload);

// Parses envelope JSON strictly (exact keys, no duplicates, strict base64,
// at most kMaxEnvelopeBytes and kMaxSignatures). Verifies nothing.
common::Result<Envelope> parse_envelope(std::string_view json);
// The same with another size limit, for large signed documents
// (compliance reports) whose reader has decided what it can hold.
common::Result<Envelope> parse_envelope(std::string_view json, std::size_t max_bytes);
std::string serialize_envelope(const Envelope& envelope);

// Signs `payload` as `payload_type` with every key, in order.
common::Result<Envelope> sign_envelope(std::string_view payload_type,
                                       std::span<const std::uint8_t> payload,
                                       const std::vector<const PrivateKey*>& keys);

// Trusted keys by key id; the algorithm is the key's own, never the envelope's.
using KeyRing = std::map<std::string, PublicKey, std::less<>>;

// Succeeds when the envelope is of `payload_type` and at least `threshold`
// distinct key ids from `allowed_keyids` (each present in `keys`) carry a
// valid signature. A key id signing twice counts once; signatures by
// unknown keys are ignored. Returns the payload bytes, which only now may
// be parsed.
common::Result<common::Bytes> verify_envelope(const Envelope& envelope,
                                              std::string_view payload_type, const KeyRing& keys,
                                              const std::vector<std::string>& allowed_keyids,
                                              std::size_t threshold);

}  // namespace flotilla::signing
