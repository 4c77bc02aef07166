// The root of trust (root.json), TUF-style: which keys may sign releases
// and which may sign the next root, with thresholds.
//
// A TrustRoot object only exists for a document whose signatures met its
// thresholds: construction is verification. Immutable; share freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "signing/dsse.hpp"

namespace flotilla::signing {

struct Role {
  std::vector<std::string> keyids;
  std::size_t threshold = 1;
};

// What a root says, before it is signed. Used to write new roots.
struct RootSpec {
  std::int64_t version = 1;
  common::TimePoint expires;
  std::vector<PublicKey> root_keys;
  std::vector<PublicKey> release_keys;
  std::size_t root_threshold = 1;
  std::size_t release_threshold = 1;
};

// The canonical payload bytes of a root (what gets signed).
std::string root_payload(const RootSpec& spec);

inline constexpr std::size_t kMaxRootKeys = 64;

class TrustRoot {
 public:
  // An initial root, trusted because it was installed (factory, operator):
  // parses the envelope and checks it is signed by a threshold of its own
  // root keys. Does not check expiry; see check_current().
  static common::Result<TrustRoot> from_json(std::string_view envelope_json);
  static common::Result<TrustRoot> load(const std::string& path);

  // The next root in the chain: accepted only when it is version N+1 and
  // signed by a threshold of this root's root keys *and* of its own.
  common::Result<TrustRoot> rotate_to(std::string_view newer_envelope_json) const;

  // Fails with kRootExpired once `now` has reached "expires".
  common::Status check_current(common::TimePoint now) const;

  // Verifies a document signed by the release role (a bundle manifest).
  common::Result<common::Bytes> verify_release(const Envelope& envelope,
                                               std::string_view payload_type) const;

  std::int64_t version() const { return version_; }
  common::TimePoint expires() const { return expires_; }
  const KeyRing& keys() const { return keys_; }
  const Role& root_role() const { return root_role_; }
  const Role& release_role() const { return release_role_; }
  // The signed envelope exactly as it was read, for passing on unchanged.
  const std::string& envelope_json() const { return envelope_json_; }

 private:
  TrustRoot() = default;
  // Parses a verified payload; checks key ids, algorithms, roles, thresholds.
  static common::Result<TrustRoot> from_payload(std::span<const std::uint8_t> payload);

  std::int64_t version_ = 0;
  common::TimePoint expires_;
  KeyRing keys_;
  Role root_role_;
  Role release_role_;
  std::string envelope_json_;
};

}  // namespace flotilla::signing
