#include "signing/root.hpp"

#include <set>

#include "common/file.hpp"
#include "common/json.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {

using common::fail;
using common::Json;
using common::JsonObject;
using common::Result;

namespace {

constexpr std::int64_t kMaxRootVersion = std::int64_t{1} << 31;

std::unexpected<common::Error> bad_root(const common::Error& cause) {
  return fail(Errc::kBadRoot, cause.describe());
}

Result<Role> parse_role(const JsonObject& roles, std::string_view name, const KeyRing& keys) {
  auto role_object = roles.object(name);
  if (!role_object) return bad_root(role_object.error());
  if (auto ok = role_object->only_keys({"keyids", "threshold"}); !ok) return bad_root(ok.error());
  auto keyids = role_object->array("keyids", kMaxRootKeys);
  if (!keyids) return bad_root(keyids.error());
  auto threshold = role_object->integer("threshold", 0, static_cast<std::int64_t>(kMaxRootKeys));
  if (!threshold) return bad_root(threshold.error());

  Role role;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < (*keyids)->size(); ++i) {
    const Json& id = (**keyids)[i];
    std::string where = common::pointer_join(role_object->pointer_to("keyids"), i);
    if (!id.is_string()) return bad_root(common::field_error(where, "must be a string").error());
    const auto& text = id.get_ref<const std::string&>();
    if (!keys.contains(text)) {
      return bad_root(common::field_error(where, "names a key that is not in /keys").error());
    }
    // Listing one key twice must not let it count twice toward a threshold.
    if (!seen.insert(text).second) {
      return bad_root(common::field_error(where, "lists a key id twice").error());
    }
    role.keyids.push_back(text);
  }
  if (*threshold < 1) {
    return fail(Errc::kBadThreshold, role_object->pointer_to("threshold") + ": must be at least 1");
  }
  role.threshold = static_cast<std::size_t>(*threshold);
  if (role.threshold > role.keyids.size()) {
    return fail(Errc::kBadThreshold, role_object->pointer_to("threshold") +
                                         ": exceeds the number of keys in the role, so it could "
                                         "never be met");
  }
  return role;
}

}  // namespace

std::string root_payload(const RootSpec& spec) {
  Json keys = Json::object();
  auto list = [&](const std::vector<PublicKey>& role_keys) {
    Json ids = Json::array();
    std::set<std::string> seen;
    for (const auto& key : role_keys) {
      keys[key.key_id()] = {{"alg", algorithm_name(key.algorithm())}, {"public", key.to_pem()}};
      if (seen.insert(key.key_id()).second) ids.push_back(key.key_id());
    }
    return ids;
  };
  Json root_ids = list(spec.root_keys);
  Json release_ids = list(spec.release_keys);
  Json doc = {{"type", "root"},
              {"version", spec.version},
              {"expires", common::format_rfc3339(spec.expires)},
              {"keys", std::move(keys)},
              {"roles",
               {{"root", {{"keyids", std::move(root_ids)}, {"threshold", spec.root_threshold}}},
                {"release",
                 {{"keyids", std::move(release_ids)}, {"threshold", spec.release_threshold}}}}}};
  return doc.dump(2) + "\n";
}

Result<TrustRoot> TrustRoot::from_payload(std::span<const std::uint8_t> payload) {
  auto doc = common::parse_json_strict(common::as_text(payload), {.max_depth = 8});
  if (!doc) return bad_root(doc.error());
  auto object = JsonObject::of(*doc, "");
  if (!object) return bad_root(object.error());
  if (auto ok = object->only_keys({"type", "version", "expires", "keys", "roles"}); !ok) {
    return bad_root(ok.error());
  }
  auto type = object->string("type", 16);
  if (!type) return bad_root(type.error());
  if (*type != "root") return fail(Errc::kBadRoot, "/type: must be \"root\"");

  TrustRoot root;
  auto version = object->integer("version", 1, kMaxRootVersion);
  if (!version) return bad_root(version.error());
  root.version_ = *version;
  auto expires_text = object->string("expires", 64);
  if (!expires_text) return bad_root(expires_text.error());
  auto expires = common::parse_rfc3339(*expires_text);
  if (!expires) return fail(Errc::kBadRoot, "/expires: " + expires.error().message());
  root.expires_ = *expires;

  auto keys = object->object("keys");
  if (!keys) return bad_root(keys.error());
  if (keys->json().size() > kMaxRootKeys) {
    return fail(Errc::kBadRoot, "/keys: more than " + std::to_string(kMaxRootKeys) + " keys");
  }
  for (const auto& [keyid, entry_json] : keys->json().items()) {
    auto entry = JsonObject::of(entry_json, keys->pointer_to(keyid));
    if (!entry) return bad_root(entry.error());
    if (auto ok = entry->only_keys({"alg", "public"}); !ok) return bad_root(ok.error());
    auto alg_name = entry->string("alg", 32);
    if (!alg_name) return bad_root(alg_name.error());
    auto declared = parse_algorithm(*alg_name);
    if (!declared) {
      return fail(Errc::kUnsupportedAlgorithm,
                  entry->pointer_to("alg") + ": must be \"ed25519\" or \"ecdsa-p256\"");
    }
    auto pem = entry->string("public", 16384);
    if (!pem) return bad_root(pem.error());
    auto key = PublicKey::from_pem(*pem);
    if (!key) return common::propagate(key, entry->pointer_to("public"));
    // The id must be derived from the key, so one key cannot appear under
    // two ids and be counted twice toward a threshold.
    if (key->key_id() != keyid) {
      return fail(Errc::kKeyIdMismatch, entry->pointer() + ": key id is not the SHA-256 of the key");
    }
    // The algorithm is fixed by the trusted entry; a mismatch means the
    // document is confused about its own keys.
    if (key->algorithm() != *declared) {
      return fail(Errc::kAlgorithmMismatch, entry->pointer_to("alg") + ": says " + *alg_name +
                                                " but the key is " +
                                                std::string(algorithm_name(key->algorithm())));
    }
    root.keys_.emplace(keyid, std::move(*key));
  }

  auto roles = object->object("roles");
  if (!roles) return bad_root(roles.error());
  if (auto ok = roles->only_keys({"root", "release"}); !ok) return bad_root(ok.error());
  auto root_role = parse_role(*roles, "root", root.keys_);
  if (!root_role) return std::unexpected(root_role.error());
  auto release_role = parse_role(*roles, "release", root.keys_);
  if (!release_role) return std::unexpected(release_role.error());
  root.root_role_ = std::move(*root_role);
  root.release_role_ = std::move(*release_role);
  return root;
}

Result<TrustRoot> TrustRoot::from_json(std::string_view envelope_json) {
  auto envelope = parse_envelope(envelope_json);
  if (!envelope) return common::propagate(envelope, "root envelope");
  if (envelope->payload_type != kRootType) {
    return fail(Errc::kWrongPayloadType, "envelope is not a root (payloadType \"" +
                                             envelope->payload_type.substr(0, 80) + "\")");
  }
  // The keys that must have signed are inside the payload, so it is parsed
  // first here, but nothing in it is used until its own signatures verified.
  auto root = from_payload(envelope->payload);
  if (!root) return root;
  auto verified = verify_envelope(*envelope, kRootType, root->keys_, root->root_role_.keyids,
                                  root->root_role_.threshold);
  if (!verified) return common::propagate(verified, "root is not signed by its own root keys");
  root->envelope_json_ = envelope_json;
  return root;
}

Result<TrustRoot> TrustRoot::load(const std::string& path) {
  auto text = common::read_file(path, kMaxEnvelopeBytes);
  if (!text) return common::propagate(text, "reading trust root");
  auto root = from_json(*text);
  if (!root) return common::propagate(root, path);
  return root;
}

Result<TrustRoot> TrustRoot::rotate_to(std::string_view newer_envelope_json) const {
  auto envelope = parse_envelope(newer_envelope_json);
  if (!envelope) return common::propagate(envelope, "new root envelope");
  // First the keys we already trust: nothing of the new document is read
  // before a threshold of the current root keys vouched for it.
  auto by_old = verify_envelope(*envelope, kRootType, keys_, root_role_.keyids,
                                root_role_.threshold);
  if (!by_old) {
    return fail(Errc::kBadRotation, "root version " + std::to_string(version_ + 1) +
                                        " is not signed by a threshold of version " +
                                        std::to_string(version_) + "'s root keys: " +
                                        by_old.error().message());
  }
  auto next = from_json(newer_envelope_json);
  if (!next) {
    if (next.error().is(Errc::kThresholdNotMet)) {
      return fail(Errc::kBadRotation,
                  "new root is not signed by a threshold of its own root keys: " +
                      next.error().message());
    }
    return next;
  }
  if (next->version_ != version_ + 1) {
    return fail(Errc::kBadRotation, "new root has version " + std::to_string(next->version_) +
                                        ", expected exactly " + std::to_string(version_ + 1));
  }
  return next;
}

common::Status TrustRoot::check_current(common::TimePoint now) const {
  if (now >= expires_) {
    return fail(Errc::kRootExpired, "trust root version " + std::to_string(version_) +
                                        " expired at " + common::format_rfc3339(expires_));
  }
  return {};
}

Result<common::Bytes> TrustRoot::verify_release(const Envelope& envelope,
                                                std::string_view payload_type) const {
  return verify_envelope(envelope, payload_type, keys_, release_role_.keyids,
                         release_role_.threshold);
}

}  // namespace flotilla::signing
