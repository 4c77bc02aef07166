#include "signing/dsse_file.hpp"

#include <fstream>
#include <vector>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "signing/digest.hpp"
#include "signing/dsse.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

using common::fail;
using common::Status;

namespace {

// A multiple of 3, so the base64 of each chunk joins into the base64 of all.
constexpr std::size_t kChunk = 3 * 64 * 1024;

std::string pae_header(std::string_view payload_type, std::uint64_t payload_size) {
  return "DSSEv1 " + std::to_string(payload_type.size()) + " " + std::string(payload_type) + " " +
         std::to_string(payload_size) + " ";
}

}  // namespace

Status write_envelope_file(std::string_view payload_type, const std::filesystem::path& payload,
                           const PrivateKey& key, const std::filesystem::path& out) {
  std::error_code ec;
  auto size = std::filesystem::file_size(payload, ec);
  if (ec) return fail(common::Errc::kIo, "cannot read " + payload.string() + ": " + ec.message());
  std::ifstream in(payload, std::ios::binary);
  std::ofstream envelope(out, std::ios::binary | std::ios::trunc);
  if (!in || !envelope) return fail(common::Errc::kIo, "cannot open " + payload.string() + " or " + out.string());

  envelope << "{\"payloadType\":" << common::Json(std::string(payload_type)).dump() << ",\"payload\":\"";
  Sha256 hash;
  std::string header = pae_header(payload_type, size);
  hash.update(header);
  bool whole_message = key.algorithm() == Algorithm::kEd25519;
  common::Bytes message;
  if (whole_message) message.assign(header.begin(), header.end());
  std::vector<std::uint8_t> chunk(kChunk);
  std::uint64_t read = 0;
  while (read < size) {
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(kChunk));
    auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    std::span<const std::uint8_t> bytes(chunk.data(), n);
    hash.update(bytes);
    if (whole_message) message.insert(message.end(), bytes.begin(), bytes.end());
    envelope << common::to_base64(bytes);
    read += n;
  }
  if (read != size) return fail(common::Errc::kIo, payload.string() + " changed while it was signed");
  auto signature = whole_message ? key.sign(message) : key.sign_digest(hash.finish());
  if (!signature) return std::unexpected(signature.error());
  envelope << "\",\"signatures\":[{\"keyid\":\"" << key.key_id() << "\",\"sig\":\"" << common::to_base64(*signature)
           << "\"}]}\n";
  envelope.flush();
  if (!envelope) return fail(common::Errc::kIo, "cannot write " + out.string());
  return {};
}

}  // namespace flotilla::signing
