#include "signing/key.hpp"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/file.hpp"
#include "signing/digest.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

struct KeyHandle {
  explicit KeyHandle(EVP_PKEY* key) : pkey(key) {}
  // A key held by a provider (signing/provider_key.hpp): its operations
  // are fetched in the provider's library context, from the provider;
  // `owner` keeps that context loaded while the key lives.
  KeyHandle(EVP_PKEY* key, OSSL_LIB_CTX* context, std::string properties, std::shared_ptr<const void> keep)
      : pkey(key), libctx(context), propq(std::move(properties)), owner(std::move(keep)) {}
  ~KeyHandle() { EVP_PKEY_free(pkey); }  // before `owner` unloads the provider
  KeyHandle(const KeyHandle&) = delete;
  KeyHandle& operator=(const KeyHandle&) = delete;
  EVP_PKEY* pkey;
  OSSL_LIB_CTX* libctx = nullptr;
  std::string propq;
  std::shared_ptr<const void> owner;
  bool held_by_provider() const { return libctx != nullptr; }
};

namespace {

using common::Bytes;
using common::fail;
using common::Result;
using common::Status;

constexpr std::size_t kMaxPemBytes = 64 * 1024;

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)>;

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// Never prompt on a terminal for a passphrase: an encrypted key is refused.
int no_passphrase(char*, int, int, void*) { return -1; }

// Which of our algorithms a key is, if any. ECDSA keys must be on P-256.
std::optional<Algorithm> classify(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "ED25519")) return Algorithm::kEd25519;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &length) == 1 &&
        std::string_view(group, length) == "prime256v1") {
      return Algorithm::kEcdsaP256;
    }
  }
  return std::nullopt;
}

std::string compute_key_id(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(pkey, &der);
  if (length <= 0) return {};
  std::string id = sha256_hex(std::span<const std::uint8_t>(der, static_cast<std::size_t>(length)));
  OPENSSL_free(der);
  return id;
}

// Ed25519 signs the message itself (no pre-hash); ECDSA signs SHA-256 of it.
const char* digest_for(Algorithm algorithm) {
  return algorithm == Algorithm::kEd25519 ? nullptr : "SHA256";
}

// True when `signature` is exactly the canonical DER encoding of an
// ECDSA-Sig-Value: decoding must consume every byte and re-encoding must
// reproduce the input (no long-form lengths, no padding, nothing trailing).
bool is_strict_der_ecdsa(std::span<const std::uint8_t> signature) {
  const unsigned char* p = signature.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())), &ECDSA_SIG_free);
  if (!sig || p != signature.data() + signature.size()) return false;
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  bool same = length == static_cast<int>(signature.size()) &&
              std::equal(signature.begin(), signature.end(), der);
  OPENSSL_free(der);
  return same;
}

// The order n of the P-256 group: a signature (r, s) and (r, n - s) both
// verify, so only s <= n/2 is canonical.
const BIGNUM* p256_half_order() {
  static const BIGNUM* half = [] {
    BIGNUM* n = nullptr;
    BN_hex2bn(&n, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    BN_rshift1(n, n);
    return n;
  }();
  return half;
}

bool is_low_s_ecdsa(std::span<const std::uint8_t> signature) {
  const unsigned char* p = signature.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())), &ECDSA_SIG_free);
  return sig && BN_cmp(ECDSA_SIG_get0_s(sig.get()), p256_half_order()) <= 0;
}

// (r, s) -> (r, n - s) when s is high; the DER is re-encoded.
Result<Bytes> to_low_s(Bytes signature) {
  if (is_low_s_ecdsa(signature)) return signature;
  const unsigned char* p = signature.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())), &ECDSA_SIG_free);
  if (!sig) return fail(Errc::kCrypto, "signing produced no ECDSA signature");
  using BnPtr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
  BnPtr n(BN_dup(p256_half_order()), &BN_free);  // n = 2 * (n >> 1) + 1: n is odd
  BnPtr r(BN_dup(ECDSA_SIG_get0_r(sig.get())), &BN_free);
  BnPtr s(BN_new(), &BN_free);
  if (!n || !r || !s || BN_lshift1(n.get(), n.get()) != 1 || BN_add_word(n.get(), 1) != 1 ||
      BN_sub(s.get(), n.get(), ECDSA_SIG_get0_s(sig.get())) != 1 || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return fail(Errc::kCrypto, "cannot normalise an ECDSA signature");
  }
  r.release();  // owned by sig now
  s.release();
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) return fail(Errc::kCrypto, "cannot encode an ECDSA signature");
  Bytes low(der, der + length);
  OPENSSL_free(der);
  return low;
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  return algorithm == Algorithm::kEd25519 ? "ed25519" : "ecdsa-p256";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  if (name == "ed25519") return Algorithm::kEd25519;
  if (name == "ecdsa-p256") return Algorithm::kEcdsaP256;
  return std::nullopt;
}

PublicKey::PublicKey(std::shared_ptr<const KeyHandle> handle, Algorithm algorithm)
    : handle_(std::move(handle)), algorithm_(algorithm), key_id_(compute_key_id(handle_->pkey)) {}

namespace {

// Public keys parsed before, by their PEM text. OpenSSL 3 decodes a PEM key
// through its provider machinery at a cost above a whole poll round; an
// agent reads the same root keys at every poll, a server the same device
// keys at every signed request. Keys are immutable, so sharing is safe.
// Bounded: emptied when full.
struct PublicKeyCache {
  static constexpr std::size_t kMaxEntries = 1024;
  std::mutex mutex;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const KeyHandle>, Algorithm>> keys;
};

PublicKeyCache& public_key_cache() {
  static PublicKeyCache cache;
  return cache;
}

}  // namespace

Result<PublicKey> PublicKey::from_pem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return fail(Errc::kBadKey, "public key PEM is too large");
  auto& cache = public_key_cache();
  {
    std::lock_guard lock(cache.mutex);
    if (auto it = cache.keys.find(std::string(pem)); it != cache.keys.end()) return PublicKey(it->second.first, it->second.second);
  }
  auto bio = memory_bio(pem);
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  if (pkey == nullptr) return fail(Errc::kBadKey, "not a PEM public key (SubjectPublicKeyInfo)");
  auto handle = std::make_shared<const KeyHandle>(pkey);
  auto algorithm = classify(pkey);
  if (!algorithm) {
    return fail(Errc::kUnsupportedAlgorithm, "public key is neither Ed25519 nor ECDSA P-256");
  }
  {
    std::lock_guard lock(cache.mutex);
    if (cache.keys.size() >= PublicKeyCache::kMaxEntries) cache.keys.clear();
    cache.keys.emplace(std::string(pem), std::make_pair(handle, *algorithm));
  }
  return PublicKey(std::move(handle), *algorithm);
}

std::string PublicKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), handle_->pkey);
  return bio_to_string(bio.get());
}

Status PublicKey::verify(std::span<const std::uint8_t> message,
                         std::span<const std::uint8_t> signature) const {
  if (algorithm_ == Algorithm::kEd25519 && signature.size() != 64) {
    return fail(Errc::kBadSignature, "an Ed25519 signature must be 64 bytes");
  }
  if (algorithm_ == Algorithm::kEcdsaP256 && !is_strict_der_ecdsa(signature)) {
    return fail(Errc::kBadSignature, "an ECDSA signature must be strict DER with nothing after it");
  }
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest_for(algorithm_), nullptr,
                                      nullptr, handle_->pkey, nullptr) != 1) {
    return fail(Errc::kCrypto, "cannot set up signature verification");
  }
  // Only exactly 1 means "valid"; 0 and negative values (errors) both refuse.
  int result = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                message.size());
  if (result != 1) return fail(Errc::kBadSignature, "signature does not verify");
  return {};
}

Status PublicKey::verify_canonical(std::span<const std::uint8_t> message,
                                   std::span<const std::uint8_t> signature) const {
  if (auto ok = verify(message, signature); !ok) return ok;
  if (algorithm_ == Algorithm::kEcdsaP256 && !is_low_s_ecdsa(signature)) {
    return fail(Errc::kBadSignature, "an ECDSA signature must have a low S (S <= n/2)");
  }
  return {};
}

Status PublicKey::verify_digest(const std::array<std::uint8_t, 32>& message_sha256,
                                std::span<const std::uint8_t> signature) const {
  if (algorithm_ != Algorithm::kEcdsaP256) {
    return fail(Errc::kUnsupportedAlgorithm, "only ECDSA P-256 signatures can be checked against a digest");
  }
  if (!is_strict_der_ecdsa(signature)) {
    return fail(Errc::kBadSignature, "an ECDSA signature must be strict DER with nothing after it");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, handle_->pkey, nullptr), &EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
    return fail(Errc::kCrypto, "cannot set up signature verification");
  }
  int result = EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), message_sha256.data(), message_sha256.size());
  if (result != 1) return fail(Errc::kBadSignature, "signature does not verify");
  return {};
}

PrivateKey::PrivateKey(std::shared_ptr<const KeyHandle> handle, Algorithm algorithm)
    : handle_(handle), public_key_(handle, algorithm) {}

Result<PrivateKey> PrivateKey::generate(Algorithm algorithm) {
  EVP_PKEY* pkey = algorithm == Algorithm::kEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC",
                                                                        "P-256");
  if (pkey == nullptr) return fail(Errc::kCrypto, "key generation failed");
  return PrivateKey(std::make_shared<const KeyHandle>(pkey), algorithm);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return fail(Errc::kBadKey, "private key PEM is too large");
  auto bio = memory_bio(pem);
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (pkey == nullptr) {
    return fail(Errc::kBadKey, "not an unencrypted PEM private key (PKCS#8)");
  }
  auto handle = std::make_shared<const KeyHandle>(pkey);
  auto algorithm = classify(pkey);
  if (!algorithm) {
    return fail(Errc::kUnsupportedAlgorithm, "private key is neither Ed25519 nor ECDSA P-256");
  }
  return PrivateKey(std::move(handle), *algorithm);
}

Result<PrivateKey> PrivateKey::from_provider(EVP_PKEY* pkey, OSSL_LIB_CTX* libctx, std::string propq,
                                             std::shared_ptr<const void> owner) {
  auto handle = std::make_shared<const KeyHandle>(pkey, libctx, std::move(propq), std::move(owner));
  auto algorithm = classify(pkey);
  if (algorithm != Algorithm::kEcdsaP256) return fail(Errc::kUnsupportedAlgorithm, "a provider-held key must be ECDSA P-256");
  // The public half as a plain key of the default provider: verifying,
  // printing and naming it never goes to the provider.
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(pkey, &der);
  if (length <= 0) return fail(Errc::kCrypto, "the provider cannot give the key's public half");
  const unsigned char* p = der;
  EVP_PKEY* plain = d2i_PUBKEY(nullptr, &p, length);
  OPENSSL_free(der);
  if (plain == nullptr) return fail(Errc::kCrypto, "the provider's public key does not decode");
  return PrivateKey(std::move(handle), PublicKey(std::make_shared<const KeyHandle>(plain), *algorithm));
}

PrivateKey::PrivateKey(std::shared_ptr<const KeyHandle> handle, PublicKey public_key)
    : handle_(std::move(handle)), public_key_(std::move(public_key)) {}

std::string PrivateKey::to_pem() const {
  if (handle_->held_by_provider()) return {};
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PKCS8PrivateKey(bio.get(), handle_->pkey, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_to_string(bio.get());
}

Result<Bytes> PrivateKey::sign(std::span<const std::uint8_t> message) const {
  // A provider (a TPM) hashes slowly, through its command buffer: the
  // message is hashed here and only the digest is signed there.
  if (handle_->held_by_provider()) return sign_digest(sha256(message));
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, digest_for(algorithm()), nullptr, nullptr,
                                    handle_->pkey, nullptr) != 1) {
    return fail(Errc::kCrypto, "cannot set up signing");
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, message.data(), message.size()) != 1) {
    return fail(Errc::kCrypto, "signing failed");
  }
  Bytes signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size()) != 1) {
    return fail(Errc::kCrypto, "signing failed");
  }
  signature.resize(length);
  if (algorithm() == Algorithm::kEcdsaP256) return to_low_s(std::move(signature));
  return signature;
}

Result<PublicKey> load_public_key(const std::string& path) {
  auto pem = common::read_file(path, kMaxPemBytes);
  if (!pem) return common::propagate(pem, "reading public key");
  auto key = PublicKey::from_pem(*pem);
  if (!key) return common::propagate(key, path);
  return key;
}

Result<PrivateKey> load_private_key(const std::string& path) {
  auto pem = common::read_file(path, kMaxPemBytes);
  if (!pem) return common::propagate(pem, "reading private key");
  auto key = PrivateKey::from_pem(*pem);
  if (!key) return common::propagate(key, path);
  return key;
}

Status save_key_pair(const PrivateKey& key, const std::string& prefix) {
  if (auto ok = common::write_file_exclusive(prefix + ".key", key.to_pem(), 0600); !ok) return ok;
  auto pub = common::write_file_exclusive(prefix + ".pub", key.public_key().to_pem(), 0644);
  // Both or neither: a private key without its public half is a trap.
  if (!pub) std::filesystem::remove(prefix + ".key");
  return pub;
}

Result<Bytes> PrivateKey::sign_digest(const std::array<std::uint8_t, 32>& message_sha256) const {
  if (algorithm() != Algorithm::kEcdsaP256) {
    return fail(Errc::kUnsupportedAlgorithm, "only ECDSA P-256 keys can sign a digest");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(handle_->libctx, handle_->pkey,
                                            handle_->propq.empty() ? nullptr : handle_->propq.c_str()),
                 &EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
    return fail(Errc::kCrypto, "cannot set up signing");
  }
  size_t length = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &length, message_sha256.data(), message_sha256.size()) != 1) {
    return fail(Errc::kCrypto, "signing failed");
  }
  Bytes signature(length);
  if (EVP_PKEY_sign(ctx.get(), signature.data(), &length, message_sha256.data(), message_sha256.size()) != 1) {
    return fail(Errc::kCrypto, "signing failed");
  }
  signature.resize(length);
  return to_low_s(std::move(signature));
}

}  // namespace flotilla::signing
