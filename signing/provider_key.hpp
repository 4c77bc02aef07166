// Device keys held by a TPM through tpm2-openssl, OpenSSL 3's TPM 2.0
// provider: the private key is created inside the TPM and never leaves it;
// what is stored on disk is the TPM's wrapped blob ("TSS2 PRIVATE KEY"
// PEM), which only that TPM can load. Or a persistent key a device maker
// put at a handle (tpm2_evictcontrol) is used as it is.
//
// The provider is loaded into a library context of its own, beside the
// default provider, so the rest of the process keeps hashing and drawing
// random numbers in software: a TPM does both slowly. Keys are ECDSA
// P-256 (TPMs have no Ed25519); PrivateKey::sign hashes in software and
// lets the TPM sign the digest.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "signing/key.hpp"

namespace flotilla::signing {

struct TpmKeyOptions {
  // The TPM's TCTI ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321");
  // none: TPM2OPENSSL_TCTI from the environment, else tpm2-tss's default.
  std::optional<std::string> tcti;
};

// A P-256 key created in the TPM; its wrapped blob is written to
// `key_file` (0600, never over an existing file).
common::Result<PrivateKey> create_tpm_key(const TpmKeyOptions& options, const std::string& key_file);
// The key whose wrapped blob is in `key_file`.
common::Result<PrivateKey> load_tpm_key_file(const TpmKeyOptions& options, const std::string& key_file);
// "0x81000000" to "0x81ffffff": the TPM's persistent object handles.
bool is_persistent_tpm_handle(std::string_view handle);
// The persistent key at `handle` ("0x81000001": 0x81000000–0x81ffffff).
common::Result<PrivateKey> load_tpm_key_handle(const TpmKeyOptions& options, const std::string& handle);

}  // namespace flotilla::signing
