#include "signing/provider_key.hpp"

#include <cstdlib>
#include <memory>
#include <mutex>

#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "common/file.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

namespace {

using common::fail;
using common::Result;

constexpr const char* kProvider = "tpm2";
constexpr const char* kProviderProperty = "provider=tpm2";

// OpenSSL's last error, for a message a person can act on.
std::string openssl_reason() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "no detail from OpenSSL";
  char text[256];
  ERR_error_string_n(last, text, sizeof text);
  return text;
}

// The library context with the default and the tpm2 providers, loaded
// once per process and unloaded when its last key is gone.
class TpmContext {
 public:
  static Result<std::shared_ptr<TpmContext>> get(const TpmKeyOptions& options) {
    static std::mutex mutex;
    static std::weak_ptr<TpmContext> loaded;
    std::lock_guard lock(mutex);
    if (auto context = loaded.lock()) return context;
    // tpm2-openssl takes its TCTI from the environment when it loads;
    // the environment is put back after, so the configured TCTI does not
    // leak into the programs the agent runs (health checks, modules).
    const char* before = std::getenv("TPM2OPENSSL_TCTI");
    std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
    if (options.tcti) ::setenv("TPM2OPENSSL_TCTI", options.tcti->c_str(), 1);
    auto context = std::shared_ptr<TpmContext>(new TpmContext());
    if (options.tcti) {
      if (saved) ::setenv("TPM2OPENSSL_TCTI", saved->c_str(), 1);
      else ::unsetenv("TPM2OPENSSL_TCTI");
    }
    if (context->libctx_ == nullptr || context->default_ == nullptr) return fail(Errc::kCrypto, "cannot set up OpenSSL");
    if (context->tpm_ == nullptr) {
      return fail(Errc::kCrypto, std::string("cannot load OpenSSL's tpm2 provider (package tpm2-openssl) or reach the TPM") +
                                     (options.tcti ? " at " + *options.tcti : "") + ": " + openssl_reason());
    }
    loaded = context;
    return context;
  }
  ~TpmContext() {
    if (tpm_ != nullptr) OSSL_PROVIDER_unload(tpm_);
    if (default_ != nullptr) OSSL_PROVIDER_unload(default_);
    OSSL_LIB_CTX_free(libctx_);
  }
  OSSL_LIB_CTX* libctx() const { return libctx_; }

 private:
  TpmContext()
      : libctx_(OSSL_LIB_CTX_new()),
        // The default provider first: what the TPM does not do (decoding
        // PEM, reading files) comes from it.
        default_(libctx_ ? OSSL_PROVIDER_load(libctx_, "default") : nullptr),
        tpm_(default_ ? OSSL_PROVIDER_load(libctx_, kProvider) : nullptr) {}

  OSSL_LIB_CTX* libctx_;
  OSSL_PROVIDER* default_;
  OSSL_PROVIDER* tpm_;
};

Result<PrivateKey> adopt(EVP_PKEY* pkey, const std::shared_ptr<TpmContext>& context) {
  return PrivateKey::from_provider(pkey, context->libctx(), kProviderProperty, context);
}

// The first private key an OSSL_STORE URI yields through the provider.
Result<PrivateKey> load_from_store(const TpmKeyOptions& options, const std::string& uri, const std::string& what) {
  auto context = TpmContext::get(options);
  if (!context) return std::unexpected(context.error());
  // "?provider=tpm2": the file loader is the default provider's.
  OSSL_STORE_CTX* store = OSSL_STORE_open_ex(uri.c_str(), (*context)->libctx(), "?provider=tpm2", nullptr, nullptr,
                                             nullptr, nullptr, nullptr);
  if (store == nullptr) return fail(Errc::kBadKey, "cannot open " + what + ": " + openssl_reason());
  EVP_PKEY* pkey = nullptr;
  while (pkey == nullptr && OSSL_STORE_eof(store) == 0) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (info == nullptr) break;
    if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) pkey = OSSL_STORE_INFO_get1_PKEY(info);
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  if (pkey == nullptr) {
    return fail(Errc::kBadKey, "the TPM cannot load " + what + " (another TPM's key, or a cleared TPM?): " + openssl_reason());
  }
  return adopt(pkey, *context);
}

}  // namespace

Result<PrivateKey> create_tpm_key(const TpmKeyOptions& options, const std::string& key_file) {
  auto context = TpmContext::get(options);
  if (!context) return std::unexpected(context.error());
  using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
  PkeyCtxPtr generator(EVP_PKEY_CTX_new_from_name((*context)->libctx(), "EC", kProviderProperty), &EVP_PKEY_CTX_free);
  EVP_PKEY* pkey = nullptr;
  if (!generator || EVP_PKEY_keygen_init(generator.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(generator.get(), "P-256") != 1 || EVP_PKEY_generate(generator.get(), &pkey) != 1) {
    return fail(Errc::kCrypto, "the TPM cannot create a P-256 key: " + openssl_reason());
  }
  auto key = adopt(pkey, *context);
  if (!key) return key;
  // The wrapped blob, as tpm2-openssl writes it: only this TPM can load it.
  using EncoderPtr = std::unique_ptr<OSSL_ENCODER_CTX, decltype(&OSSL_ENCODER_CTX_free)>;
  EncoderPtr encoder(OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, "PEM", nullptr, kProviderProperty),
                     &OSSL_ENCODER_CTX_free);
  unsigned char* data = nullptr;
  size_t length = 0;
  if (!encoder || OSSL_ENCODER_to_data(encoder.get(), &data, &length) != 1) {
    return fail(Errc::kCrypto, "cannot encode the TPM's key blob: " + openssl_reason());
  }
  std::string pem(reinterpret_cast<const char*>(data), length);
  OPENSSL_free(data);
  if (auto ok = common::write_file_exclusive(key_file, pem, 0600); !ok) return std::unexpected(ok.error());
  return key;
}

Result<PrivateKey> load_tpm_key_file(const TpmKeyOptions& options, const std::string& key_file) {
  // Read first: a missing or foreign file is named as such, not as a TPM error.
  auto pem = common::read_file(key_file, 16 * 1024);
  if (!pem) return common::propagate(pem, "reading the TPM key blob");
  if (pem->find("-----BEGIN TSS2 PRIVATE KEY-----") == std::string::npos) {
    return fail(Errc::kBadKey, key_file + " is not a TPM key blob (TSS2 PRIVATE KEY PEM)");
  }
  return load_from_store(options, "file:" + key_file, key_file);
}

bool is_persistent_tpm_handle(std::string_view handle) {
  return handle.size() == 10 && handle.starts_with("0x81") &&
         handle.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string_view::npos;
}

Result<PrivateKey> load_tpm_key_handle(const TpmKeyOptions& options, const std::string& handle) {
  if (!is_persistent_tpm_handle(handle)) {
    return fail(Errc::kBadKey, "\"" + handle + "\" is not a persistent TPM handle (0x81000000 to 0x81ffffff)");
  }
  return load_from_store(options, "handle:" + handle, "the persistent key at " + handle);
}

}  // namespace flotilla::signing
