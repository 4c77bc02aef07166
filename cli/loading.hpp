// Loading what several commands take as arguments: key files and a trust
// root with its rotation chain.
#pragma once

#include <string>
#include <vector>

#include "signing/key.hpp"
#include "signing/root.hpp"

namespace flotilla::cli {

common::Result<std::vector<signing::PrivateKey>> load_private_keys(const std::vector<std::string>& paths);
common::Result<std::vector<signing::PublicKey>> load_public_keys(const std::vector<std::string>& paths);
std::vector<const signing::PrivateKey*> pointers_to(const std::vector<signing::PrivateKey>& keys);

// Loads `root_path`, then walks each of `updates` in order (N+1, N+2, ...).
common::Result<signing::TrustRoot> load_root_chain(const std::string& root_path,
                                                   const std::vector<std::string>& updates);

}  // namespace flotilla::cli
