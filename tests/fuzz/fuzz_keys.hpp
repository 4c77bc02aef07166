// A fixed key and root for the fuzz targets, so that seed bundles made by
// fuzz_seeds carry signatures the targets accept and mutations can reach
// the payload-streaming code behind the signature check. Test-only: this
// key signs nothing outside the fuzz corpus.
#pragma once

#include <stdexcept>
#include <string>

#include "signing/root.hpp"

namespace flotilla::fuzz {

inline constexpr const char* kFuzzKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIFeQ7Quh9/2OSh83+UDiytvMM552r89km05In62LVq8W\n"
    "-----END PRIVATE KEY-----\n";

inline const signing::PrivateKey& fuzz_key() {
  static const signing::PrivateKey key = [] {
    auto k = signing::PrivateKey::from_pem(kFuzzKeyPem);
    if (!k) throw std::runtime_error(k.error().describe());
    return *k;
  }();
  return key;
}

// Root v1: the fuzz key holds both roles; expires far in the future.
inline std::string fuzz_root_json() {
  signing::RootSpec spec;
  spec.version = 1;
  spec.expires = *common::parse_rfc3339("2099-01-01T00:00:00Z");
  spec.root_keys = {fuzz_key().public_key()};
  spec.release_keys = {fuzz_key().public_key()};
  std::string payload = signing::root_payload(spec);
  auto envelope = signing::sign_envelope(signing::kRootType, common::as_bytes(payload), {&fuzz_key()});
  return signing::serialize_envelope(*envelope);
}

inline const signing::TrustRoot& fuzz_root() {
  static const signing::TrustRoot root = *signing::TrustRoot::from_json(fuzz_root_json());
  return root;
}

}  // namespace flotilla::fuzz
