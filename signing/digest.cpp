#include "signing/digest.hpp"

#include <cassert>
#include <cstdio>
#include <openssl/evp.h>

#include "common/encoding.hpp"

namespace flotilla::signing {
namespace {

// Fetched once: an implicit fetch on every init costs a lock and a lookup.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  assert(md != nullptr);
  return md;
}

}  // namespace

struct Sha256::Impl {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  [[maybe_unused]] int ok = EVP_DigestInit_ex2(impl_->ctx.get(), sha256_md(), nullptr);
  assert(ok == 1);
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const std::uint8_t> bytes) {
  [[maybe_unused]] int ok = EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
  assert(ok == 1);
}

void Sha256::update(std::string_view text) { update(common::as_bytes(text)); }

Sha256Digest Sha256::finish() {
  Sha256Digest out{};
  unsigned int length = 0;
  [[maybe_unused]] int ok = EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &length);
  assert(ok == 1 && length == out.size());
  ok = EVP_DigestInit_ex2(impl_->ctx.get(), sha256_md(), nullptr);
  assert(ok == 1);
  return out;
}

std::string Sha256::finish_hex() { return common::to_hex(finish()); }

Sha256Digest sha256(std::span<const std::uint8_t> bytes) {
  Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish();
}

std::string sha256_hex(std::span<const std::uint8_t> bytes) { return common::to_hex(sha256(bytes)); }
std::string sha256_hex(std::string_view text) { return sha256_hex(common::as_bytes(text)); }

}  // namespace flotilla::signing

#include <openssl/rand.h>
#include <stdexcept>

namespace flotilla::signing {
std::vector<std::uint8_t> random_bytes(std::size_t count) {
  std::vector<std::uint8_t> out(count);
  // Failing to get randomness must never degrade into weak tokens.
  if (RAND_bytes(out.data(), static_cast<int>(count)) != 1) throw std::runtime_error("RAND_bytes failed");
  return out;
}
}  // namespace flotilla::signing

namespace flotilla::signing {

common::Result<std::string> sha256_file_hex(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return common::fail(common::Errc::kIo, path.string() + ": cannot open");
  Sha256 hasher;
  std::vector<std::uint8_t> buffer(1 << 16);
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get())) hasher.update(std::span(buffer).first(n));
  if (std::ferror(file.get())) return common::fail(common::Errc::kIo, path.string() + ": cannot read");
  return hasher.finish_hex();
}

}  // namespace flotilla::signing
