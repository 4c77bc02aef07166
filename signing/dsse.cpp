#include "signing/dsse.hpp"

#include <algorithm>
#include <set>

#include "common/json.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

using common::Bytes;
using common::fail;
using common::Result;

Bytes pae(std::string_view payload_type, std::span<const std::uint8_t> payload) {
  std::string header = "DSSEv1 " + std::to_string(payload_type.size()) + " " +
                       std::string(payload_type) + " " + std::to_string(payload.size()) + " ";
  Bytes out(header.begin(), header.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<Envelope> parse_envelope(std::string_view json) { return parse_envelope(json, kMaxEnvelopeBytes); }

Result<Envelope> parse_envelope(std::string_view json, std::size_t max_bytes) {
  auto bad = [](const std::string& message) { return fail(Errc::kBadEnvelope, message); };
  auto doc = common::parse_json_strict(json, {.max_bytes = max_bytes, .max_depth = 4});
  if (!doc) return bad(doc.error().message());
  auto object = common::JsonObject::of(*doc, "");
  if (!object) return bad(object.error().message());
  if (auto ok = object->only_keys({"payloadType", "payload", "signatures"}); !ok) {
    return bad(ok.error().message());
  }
  Envelope envelope;
  auto type = object->string("payloadType", 256);
  if (!type) return bad(type.error().message());
  envelope.payload_type = *type;
  auto payload = object->string("payload", max_bytes);
  if (!payload) return bad(payload.error().message());
  auto payload_bytes = common::from_base64(*payload);
  if (!payload_bytes) return bad("/payload: " + payload_bytes.error().message());
  envelope.payload = std::move(*payload_bytes);

  auto signatures = object->array("signatures", kMaxSignatures);
  if (!signatures) return bad(signatures.error().message());
  if ((*signatures)->empty()) return bad("/signatures: has no signature");
  for (std::size_t i = 0; i < (*signatures)->size(); ++i) {
    auto entry = common::JsonObject::of((**signatures)[i], common::pointer_join("/signatures", i));
    if (!entry) return bad(entry.error().message());
    if (auto ok = entry->only_keys({"keyid", "sig"}); !ok) return bad(ok.error().message());
    auto keyid = entry->string("keyid", 256);
    if (!keyid) return bad(keyid.error().message());
    auto sig = entry->string("sig", 4096);
    if (!sig) return bad(sig.error().message());
    auto sig_bytes = common::from_base64(*sig);
    if (!sig_bytes) return bad(entry->pointer_to("sig") + ": " + sig_bytes.error().message());
    envelope.signatures.push_back({*keyid, std::move(*sig_bytes)});
  }
  return envelope;
}

std::string serialize_envelope(const Envelope& envelope) {
  common::Json signatures = common::Json::array();
  for (const auto& s : envelope.signatures) {
    signatures.push_back({{"keyid", s.keyid}, {"sig", common::to_base64(s.sig)}});
  }
  common::Json doc = {{"payloadType", envelope.payload_type},
                      {"payload", common::to_base64(envelope.payload)},
                      {"signatures", std::move(signatures)}};
  return doc.dump(2) + "\n";
}

Result<Envelope> sign_envelope(std::string_view payload_type, std::span<const std::uint8_t> payload,
                               const std::vector<const PrivateKey*>& keys) {
  Envelope envelope{std::string(payload_type), Bytes(payload.begin(), payload.end()), {}};
  Bytes message = pae(payload_type, payload);
  for (const PrivateKey* key : keys) {
    auto sig = key->sign(message);
    if (!sig) return common::propagate(sig, "signing with key " + key->key_id());
    envelope.signatures.push_back({key->key_id(), std::move(*sig)});
  }
  return envelope;
}

Result<Bytes> verify_envelope(const Envelope& envelope, std::string_view payload_type,
                              const KeyRing& keys, const std::vector<std::string>& allowed_keyids,
                              std::size_t threshold) {
  // A threshold of 0 would accept an unsigned document; it is a bug in the
  // caller's trust data, never a policy.
  if (threshold == 0) return fail(Errc::kBadThreshold, "threshold must be at least 1");
  if (envelope.payload_type != payload_type) {
    return fail(Errc::kWrongPayloadType, "envelope is of type \"" +
                                             envelope.payload_type.substr(0, 80) +
                                             "\", expected \"" + std::string(payload_type) + "\"");
  }
  Bytes message = pae(envelope.payload_type, envelope.payload);
  std::set<std::string> counted;
  for (const auto& signature : envelope.signatures) {
    if (counted.contains(signature.keyid)) continue;
    if (std::find(allowed_keyids.begin(), allowed_keyids.end(), signature.keyid) ==
        allowed_keyids.end()) {
      continue;
    }
    auto key = keys.find(signature.keyid);
    if (key == keys.end()) continue;
    if (key->second.verify(message, signature.sig)) counted.insert(signature.keyid);
  }
  if (counted.size() < threshold) {
    return fail(Errc::kThresholdNotMet,
                std::to_string(counted.size()) + " valid signature(s) from trusted keys, " +
                    std::to_string(threshold) + " required");
  }
  return envelope.payload;
}

}  // namespace flotilla::signing
