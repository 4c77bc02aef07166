// SHA-256, streaming. OpenSSL stays behind this header.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace flotilla::signing {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Not thread-safe; one hasher per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::span<const std::uint8_t> bytes);
  void update(std::string_view text);
  // Ends the stream; the hasher is ready for a new one afterwards.
  Sha256Digest finish();
  std::string finish_hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Sha256Digest sha256(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::string_view text);
// Of a whole file, read in chunks (never whole in memory).
common::Result<std::string> sha256_file_hex(const std::filesystem::path& path);

}  // namespace flotilla::signing

namespace flotilla::signing {
// Bytes from the operating system's CSPRNG (OpenSSL RAND_bytes).
std::vector<std::uint8_t> random_bytes(std::size_t count);
}  // namespace flotilla::signing
