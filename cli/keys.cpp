// flotilla keygen
#include <iostream>

#include "cli/command.hpp"
#include "signing/key.hpp"

namespace flotilla::cli {

void add_key_commands(CLI::App& app, int& exit_code) {
  auto* keygen = app.add_subcommand(
      "keygen", "Create a signing key pair: PREFIX.key (private, mode 0600) and PREFIX.pub");
  struct Options {
    std::string out;
    std::string alg = "ed25519";
  };
  auto opts = std::make_shared<Options>();
  keygen->add_option("--out", opts->out, "Path prefix of the two key files")->required();
  keygen->add_option("--alg", opts->alg, "Algorithm")
      ->check(CLI::IsMember({"ed25519", "ecdsa-p256"}))
      ->capture_default_str();
  on_run(*keygen, exit_code, [opts] {
    auto key = signing::PrivateKey::generate(*signing::parse_algorithm(opts->alg));
    if (!key) return report_failure(key.error());
    if (auto ok = signing::save_key_pair(*key, opts->out); !ok) return report_failure(ok.error());
    std::cout << "key id " << key->key_id() << "\n"
              << "private key " << opts->out << ".key (keep it offline)\n"
              << "public key  " << opts->out << ".pub\n";
    return static_cast<int>(kExitOk);
  });
}

}  // namespace flotilla::cli
