// Error codes of flotilla::signing. Tests assert these exactly.
#pragma once

#include "common/error.hpp"

namespace flotilla::signing {

enum class Errc {
  kBadKey = 1,           // PEM that is not a supported public or private key
  kUnsupportedAlgorithm, // a key or "alg" other than ed25519 / ecdsa-p256
  kBadEnvelope,          // DSSE envelope JSON of the wrong shape
  kWrongPayloadType,     // envelope of another type than the verifier expects
  kBadSignature,         // a signature that does not verify, or is not strictly encoded
  kThresholdNotMet,      // fewer distinct trusted keys signed than the threshold needs
  kBadRoot,              // root document of the wrong shape or inconsistent
  kKeyIdMismatch,        // a key id that is not the SHA-256 of its key
  kAlgorithmMismatch,    // a key entry whose "alg" differs from its actual key
  kBadThreshold,         // a threshold below 1 or above the number of keys
  kRootExpired,          // the root's "expires" is in the past
  kBadRotation,          // a new root that is not version N+1 or not signed by both
  kCrypto,               // OpenSSL failed for a reason other than bad input
  kAuditChainBroken,     // an audit entry whose hash, link or sequence is wrong
};

}  // namespace flotilla::signing

template <>
struct flotilla::common::ErrorDomain<flotilla::signing::Errc> {
  static constexpr std::string_view kName = "signing";
};
