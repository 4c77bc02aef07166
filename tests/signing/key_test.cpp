#include "signing/key.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "signing/digest.hpp"
#include "signing/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla::signing {
namespace {

using common::as_bytes;
using testing::make_key;

class KeyAlgorithms : public ::testing::TestWithParam<Algorithm> {};

TEST_P(KeyAlgorithms, SignVerifyAndPemRoundTrip) {
  auto key = make_key(GetParam());
  auto sig = key.sign(as_bytes("message"));
  ASSERT_TRUE(sig);
  EXPECT_TRUE(key.public_key().verify(as_bytes("message"), *sig));
  auto other = key.public_key().verify(as_bytes("messagf"), *sig);
  ASSERT_FALSE(other);
  EXPECT_TRUE(other.error().is(Errc::kBadSignature));

  auto reloaded = PrivateKey::from_pem(key.to_pem());
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->key_id(), key.key_id());
  auto pub = PublicKey::from_pem(key.public_key().to_pem());
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->key_id(), key.key_id());
  EXPECT_EQ(pub->algorithm(), GetParam());
  EXPECT_TRUE(pub->verify(as_bytes("message"), *sig));
}

INSTANTIATE_TEST_SUITE_P(Both, KeyAlgorithms,
                         ::testing::Values(Algorithm::kEd25519, Algorithm::kEcdsaP256));

TEST(Key, IdIsSha256OfSpkiDer) {
  auto key = make_key();
  // Ed25519 SPKI DER = fixed 12-byte prefix + 32-byte key; recompute by hand.
  std::string pem = key.public_key().to_pem();
  std::string body;
  for (std::size_t pos = pem.find('\n') + 1; pos < pem.size();) {
    std::size_t end = pem.find('\n', pos);
    std::string line = pem.substr(pos, end - pos);
    if (line.starts_with("-----")) break;
    body += line;
    pos = end + 1;
  }
  auto der = common::from_base64(body);
  ASSERT_TRUE(der);
  EXPECT_EQ(der->size(), 44u);
  EXPECT_EQ(key.key_id(), sha256_hex(*der));
}

TEST(Key, Ed25519SignatureMustBe64Bytes) {
  auto key = make_key();
  auto sig = *key.sign(as_bytes("m"));
  sig.push_back(0);
  EXPECT_TRUE(key.public_key().verify(as_bytes("m"), sig).error().is(Errc::kBadSignature));
}

TEST(Key, EcdsaSignatureWithTrailingBytesIsRefused) {
  auto key = make_key(Algorithm::kEcdsaP256);
  auto sig = *key.sign(as_bytes("m"));
  ASSERT_TRUE(key.public_key().verify(as_bytes("m"), sig));
  auto trailing = sig;
  trailing.push_back(0);
  auto result = key.public_key().verify(as_bytes("m"), trailing);
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is(Errc::kBadSignature));
}

TEST(Key, EcdsaSignatureWithNonMinimalDerLengthIsRefused) {
  auto key = make_key(Algorithm::kEcdsaP256);
  auto sig = *key.sign(as_bytes("m"));
  // Re-encode the outer SEQUENCE length in long form (0x81 LL): same value,
  // different bytes; a BER-lax verifier would accept it.
  ASSERT_EQ(sig[0], 0x30);
  ASSERT_LT(sig[1], 0x80);
  common::Bytes long_form = {0x30, 0x81, sig[1]};
  long_form.insert(long_form.end(), sig.begin() + 2, sig.end());
  EXPECT_TRUE(key.public_key().verify(as_bytes("m"), long_form).error().is(Errc::kBadSignature));
}

// OpenSSL's ECDSA gives a high S about half the time; ours never does, so
// every signature we make passes verify_canonical, and the twin a third
// party could make from it (r, n - s) is refused there but not by verify.
TEST(Key, EcdsaSignaturesAreLowSAndTheirHighTwinIsNotCanonical) {
  auto key = make_key(Algorithm::kEcdsaP256);
  const auto message = as_bytes("report");
  for (int i = 0; i < 64; ++i) {
    auto sig = *key.sign(message);
    ASSERT_TRUE(key.public_key().verify_canonical(message, sig)) << i;
    auto twin = testing::ecdsa_twin(sig);
    ASSERT_NE(twin, sig);
    EXPECT_TRUE(key.public_key().verify(message, twin)) << i;
    auto refused = key.public_key().verify_canonical(message, twin);
    ASSERT_FALSE(refused) << i;
    EXPECT_TRUE(refused.error().is(Errc::kBadSignature));
    EXPECT_NE(refused.error().message().find("low S"), std::string::npos);
    // The pre-hashed form gives what sign() gives for the whole message.
    auto by_digest = *key.sign_digest(signing::sha256(message));
    EXPECT_TRUE(key.public_key().verify_canonical(message, by_digest)) << i;
  }
  // Ed25519 signatures are canonical as they are.
  auto ed = make_key();
  EXPECT_TRUE(ed.public_key().verify_canonical(message, *ed.sign(message)));
}

TEST(Key, RefusesUnsupportedKeys) {
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  ASSERT_NE(rsa, nullptr);
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  for (EVP_PKEY* pkey : {rsa, p384}) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    auto key = PublicKey::from_pem(std::string(data, static_cast<std::size_t>(n)));
    ASSERT_FALSE(key);
    EXPECT_TRUE(key.error().is(Errc::kUnsupportedAlgorithm));
    BIO_free(bio);
    EVP_PKEY_free(pkey);
  }
  EXPECT_TRUE(PublicKey::from_pem("not a key").error().is(Errc::kBadKey));
  EXPECT_TRUE(PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                  .error()
                  .is(Errc::kBadKey));
}

TEST(Key, SavesPrivateKey0600AndRefusesToOverwrite) {
  testing::TempDir dir;
  auto key = make_key();
  std::string prefix = (dir / "release").string();
  ASSERT_TRUE(save_key_pair(key, prefix));
  struct stat st {};
  ASSERT_EQ(::stat((prefix + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(load_private_key(prefix + ".key")->key_id(), key.key_id());
  EXPECT_EQ(load_public_key(prefix + ".pub")->key_id(), key.key_id());
  EXPECT_FALSE(save_key_pair(make_key(), prefix));
  EXPECT_EQ(load_private_key(prefix + ".key")->key_id(), key.key_id());
}

}  // namespace
}  // namespace flotilla::signing
