#include "cli/loading.hpp"

#include "common/file.hpp"

namespace flotilla::cli {

common::Result<std::vector<signing::PrivateKey>> load_private_keys(const std::vector<std::string>& paths) {
  std::vector<signing::PrivateKey> keys;
  for (const auto& path : paths) {
    auto key = signing::load_private_key(path);
    if (!key) return std::unexpected(key.error());
    keys.push_back(std::move(*key));
  }
  return keys;
}

common::Result<std::vector<signing::PublicKey>> load_public_keys(const std::vector<std::string>& paths) {
  std::vector<signing::PublicKey> keys;
  for (const auto& path : paths) {
    auto key = signing::load_public_key(path);
    if (!key) return std::unexpected(key.error());
    keys.push_back(std::move(*key));
  }
  return keys;
}

std::vector<const signing::PrivateKey*> pointers_to(const std::vector<signing::PrivateKey>& keys) {
  std::vector<const signing::PrivateKey*> out;
  for (const auto& key : keys) out.push_back(&key);
  return out;
}

common::Result<signing::TrustRoot> load_root_chain(const std::string& root_path,
                                                   const std::vector<std::string>& updates) {
  auto root = signing::TrustRoot::load(root_path);
  if (!root) return root;
  for (const auto& path : updates) {
    auto text = common::read_file(path, signing::kMaxEnvelopeBytes);
    if (!text) return common::propagate(text, "reading root update");
    auto next = root->rotate_to(*text);
    if (!next) return common::propagate(next, path);
    root = std::move(next);
  }
  return root;
}

}  // namespace flotilla::cli
