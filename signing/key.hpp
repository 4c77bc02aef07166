// Signing keys: Ed25519 (default) and ECDSA P-256 with SHA-256.
//
// Keys are PEM: PKCS#8 for private keys, SubjectPublicKeyInfo for public
// ones. A key id is the lowercase hex SHA-256 of the public key's DER SPKI,
// so one key has exactly one id. Objects are immutable after creation and
// may be shared between threads.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/encoding.hpp"
#include "common/error.hpp"

namespace flotilla::signing {

enum class Algorithm { kEd25519, kEcdsaP256 };

// "ed25519" / "ecdsa-p256", the names used in root.json and on the CLI.
std::string_view algorithm_name(Algorithm algorithm);
std::optional<Algorithm> parse_algorithm(std::string_view name);

struct KeyHandle;  // wraps an EVP_PKEY; defined in key.cpp
}  // namespace flotilla::signing
// OpenSSL's types, named without its headers.
struct evp_pkey_st;
struct ossl_lib_ctx_st;
namespace flotilla::signing {

class PublicKey {
 public:
  // Refuses anything but an Ed25519 or a P-256 public key.
  static common::Result<PublicKey> from_pem(std::string_view pem);

  Algorithm algorithm() const { return algorithm_; }
  const std::string& key_id() const { return key_id_; }
  std::string to_pem() const;

  // Succeeds only when OpenSSL's verify returned exactly 1. An Ed25519
  // signature must be 64 raw bytes; an ECDSA one strict DER with nothing
  // after it (a lax decoder would accept many encodings of one signature).
  common::Status verify(std::span<const std::uint8_t> message,
                        std::span<const std::uint8_t> signature) const;
  // verify(), and an ECDSA signature must also have a low S (S <= n/2), so
  // that a key has exactly one valid signature per message: nobody but the
  // signer can make a second one (ECDSA malleability). Ed25519 signatures
  // are canonical already (OpenSSL refuses S >= L). Device requests use
  // this; bundle and root signatures, often made by other tools, use verify().
  common::Status verify_canonical(std::span<const std::uint8_t> message,
                                  std::span<const std::uint8_t> signature) const;
  // The same check for an ECDSA key given SHA-256 of the message, for
  // messages too large to hold (a compliance report). Ed25519 has no
  // pre-hashed form here: kUnsupportedAlgorithm.
  common::Status verify_digest(const std::array<std::uint8_t, 32>& message_sha256,
                               std::span<const std::uint8_t> signature) const;

 private:
  friend class PrivateKey;
  PublicKey(std::shared_ptr<const KeyHandle> handle, Algorithm algorithm);

  std::shared_ptr<const KeyHandle> handle_;
  Algorithm algorithm_;
  std::string key_id_;
};

class PrivateKey {
 public:
  static common::Result<PrivateKey> generate(Algorithm algorithm);
  // Refuses encrypted keys (there is no one to ask for a passphrase).
  static common::Result<PrivateKey> from_pem(std::string_view pem);

  Algorithm algorithm() const { return public_key_.algorithm(); }
  const PublicKey& public_key() const { return public_key_; }
  const std::string& key_id() const { return public_key_.key_id(); }
  // PKCS#8, unencrypted. Empty for a provider-held key (it never leaves).
  std::string to_pem() const;
  // Takes `pkey`, a P-256 key of a provider loaded in `libctx`; its
  // signatures are asked of the provider (`propq`, e.g. "provider=tpm2")
  // over digests made here. `owner` keeps the provider loaded.
  static common::Result<PrivateKey> from_provider(evp_pkey_st* pkey, ossl_lib_ctx_st* libctx, std::string propq,
                                                  std::shared_ptr<const void> owner);

  // ECDSA signatures come out with a low S (verify_canonical accepts them).
  common::Result<common::Bytes> sign(std::span<const std::uint8_t> message) const;
  // ECDSA only: the signature sign() would give for a message whose SHA-256
  // is `message_sha256` (so verify() accepts it with the whole message).
  common::Result<common::Bytes> sign_digest(const std::array<std::uint8_t, 32>& message_sha256) const;

 private:
  PrivateKey(std::shared_ptr<const KeyHandle> handle, Algorithm algorithm);
  PrivateKey(std::shared_ptr<const KeyHandle> handle, PublicKey public_key);

  std::shared_ptr<const KeyHandle> handle_;
  PublicKey public_key_;
};

// Loads a key file (at most 64 KiB), naming the path on failure.
common::Result<PublicKey> load_public_key(const std::string& path);
common::Result<PrivateKey> load_private_key(const std::string& path);
// Writes PREFIX.key (0600, refuses to overwrite) and PREFIX.pub (0644).
common::Status save_key_pair(const PrivateKey& key, const std::string& prefix);

}  // namespace flotilla::signing
