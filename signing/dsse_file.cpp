#include "signing/dsse_file.hpp"

#include <openssl/evp.h>

#include <algorithm>
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

common::Result<std::unique_ptr<EnvelopeFileWriter>> EnvelopeFileWriter::open(std::string_view payload_type,
                                                                             const std::filesystem::path& out) {
  std::unique_ptr<EnvelopeFileWriter> writer(new EnvelopeFileWriter(std::string(payload_type), out));
  writer->out_.open(out, std::ios::binary | std::ios::trunc);
  if (!writer->out_) return fail(common::Errc::kIo, "cannot open " + out.string());
  std::string head = "{\"payloadType\":" + common::Json(writer->type_).dump() + ",\"payload\":\"";
  writer->out_ << head;
  writer->payload_at_ = head.size();
  return writer;
}

Status EnvelopeFileWriter::write(std::string_view bytes) {
  size_ += bytes.size();
  pending_.append(bytes);
  if (pending_.size() < kChunk) return {};
  return flush_encoded(false);
}

Status EnvelopeFileWriter::flush_encoded(bool last) {
  std::size_t whole = last ? pending_.size() : pending_.size() - pending_.size() % 3;
  auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(pending_.data()), whole);
  out_ << common::to_base64(bytes);
  pending_.erase(0, whole);
  if (!out_) return fail(common::Errc::kIo, "cannot write " + path_.string());
  return {};
}

Status EnvelopeFileWriter::finish(const PrivateKey& key) {
  if (auto ok = flush_encoded(true); !ok) return ok;
  out_.flush();
  if (!out_) return fail(common::Errc::kIo, "cannot write " + path_.string());
  // The payload again, from the envelope: hashed behind its PAE header.
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(payload_at_));
  std::uint64_t encoded = (size_ + 2) / 3 * 4;
  Sha256 hash;
  std::string header = pae_header(type_, size_);
  hash.update(header);
  bool whole_message = key.algorithm() == Algorithm::kEd25519;
  common::Bytes message;
  if (whole_message) message.assign(header.begin(), header.end());
  // Our own base64 read back, decoded by OpenSSL's block decoder (several
  // times faster on gigabytes than common::from_base64, which checks each
  // digit on its own for input from outside).
  std::string chunk(kChunk / 3 * 4, '\0');  // a multiple of 4: decodes on its own
  std::vector<std::uint8_t> bytes(kChunk);
  for (std::uint64_t done = 0; done < encoded;) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), encoded - done));
    if (!in.read(chunk.data(), static_cast<std::streamsize>(n))) return fail(common::Errc::kIo, "cannot read back " + path_.string());
    int decoded = EVP_DecodeBlock(bytes.data(), reinterpret_cast<const unsigned char*>(chunk.data()), static_cast<int>(n));
    if (decoded < 0) return fail(common::Errc::kIo, path_.string() + " changed while it was signed");
    done += n;
    // The block decoder counts padding as zero bytes.
    std::size_t length = static_cast<std::size_t>(decoded);
    if (done == encoded) length -= static_cast<std::size_t>(std::count(chunk.begin() + static_cast<std::ptrdiff_t>(n) - 2,
                                                                      chunk.begin() + static_cast<std::ptrdiff_t>(n), '='));
    std::span<const std::uint8_t> payload(bytes.data(), length);
    hash.update(payload);
    if (whole_message) message.insert(message.end(), payload.begin(), payload.end());
  }
  auto signature = whole_message ? key.sign(message) : key.sign_digest(hash.finish());
  if (!signature) return std::unexpected(signature.error());
  out_ << "\",\"signatures\":[{\"keyid\":\"" << key.key_id() << "\",\"sig\":\"" << common::to_base64(*signature) << "\"}]}\n";
  out_.flush();
  if (!out_) return fail(common::Errc::kIo, "cannot write " + path_.string());
  out_.close();
  return {};
}

}  // namespace flotilla::signing
