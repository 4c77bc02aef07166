// flotilla root init | rotate | verify
#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "cli/loading.hpp"
#include "common/file.hpp"
#include "common/time.hpp"

namespace flotilla::cli {
namespace {

struct RootOptions {
  std::string from;
  std::vector<std::string> root_keys;
  std::vector<std::string> release_keys;
  std::size_t root_threshold = 0;     // 0: keep (rotate) or 1 (init)
  std::size_t release_threshold = 0;
  std::string expires;
  std::vector<std::string> sign;
  std::string out;
  bool force = false;
  // verify
  std::string root;
  std::vector<std::string> updates;
};

void add_role_options(CLI::App& command, RootOptions& opts, bool required) {
  auto* root_keys = command.add_option("--root-key", opts.root_keys,
                                       "Public key allowed to sign the next root (repeatable)");
  auto* release_keys = command.add_option("--release-key", opts.release_keys,
                                          "Public key allowed to sign bundles (repeatable)");
  if (required) {
    root_keys->required();
    release_keys->required();
  }
  command.add_option("--root-threshold", opts.root_threshold,
                     "Distinct root keys needed to sign a new root (default 1, or unchanged)")
      ->check(CLI::Range(1, 64));
  command.add_option("--release-threshold", opts.release_threshold,
                     "Distinct release keys needed to sign a bundle (default 1, or unchanged)")
      ->check(CLI::Range(1, 64));
  command.add_option("--expires", opts.expires,
                     "RFC 3339 expiry (default: one year from now, or unchanged)");
  command.add_option("--sign", opts.sign, "Private key that signs this root (repeatable)")
      ->required();
  command.add_option("-o,--output", opts.out, "Where to write the signed root")->required();
  command.add_flag("--force", opts.force, "Replace an existing output file");
}

// Signs `spec` and checks the result is acceptable before writing it: a
// root that devices would refuse must never reach a release.
int sign_and_write(const signing::RootSpec& spec, const RootOptions& opts,
                   const signing::TrustRoot* previous) {
  if (!opts.force && std::filesystem::exists(opts.out)) {
    return report_usage(opts.out + " exists; pass --force to replace it");
  }
  auto signers = load_private_keys(opts.sign);
  if (!signers) return report_failure(signers.error());
  std::string payload = signing::root_payload(spec);
  auto envelope = signing::sign_envelope(signing::kRootType, common::as_bytes(payload), pointers_to(*signers));
  if (!envelope) return report_failure(envelope.error());
  std::string text = signing::serialize_envelope(*envelope);
  auto checked = previous ? previous->rotate_to(text) : signing::TrustRoot::from_json(text);
  if (!checked) return report_failure(checked.error().with_context("the new root would be refused"));
  if (auto ok = common::write_file_atomic(opts.out, text, 0644); !ok) return report_failure(ok.error());
  std::cout << "root version " << checked->version() << " written to " << opts.out << " (expires "
            << common::format_rfc3339(checked->expires()) << ")\n";
  return static_cast<int>(kExitOk);
}

common::Result<common::TimePoint> expiry(const RootOptions& opts, common::TimePoint fallback) {
  if (opts.expires.empty()) return fallback;
  auto t = common::parse_rfc3339(opts.expires);
  if (!t) return common::propagate(t, "--expires");
  return t;
}

void describe_root(const signing::TrustRoot& root) {
  std::cout << "root version " << root.version() << ", expires "
            << common::format_rfc3339(root.expires()) << "\n"
            << "  root role:    " << root.root_role().threshold << " of "
            << root.root_role().keyids.size() << " keys\n";
  for (const auto& id : root.root_role().keyids) {
    std::cout << "    " << id << " (" << signing::algorithm_name(root.keys().at(id).algorithm()) << ")\n";
  }
  std::cout << "  release role: " << root.release_role().threshold << " of "
            << root.release_role().keyids.size() << " keys\n";
  for (const auto& id : root.release_role().keyids) {
    std::cout << "    " << id << " (" << signing::algorithm_name(root.keys().at(id).algorithm()) << ")\n";
  }
}

int run_init(const RootOptions& opts) {
  auto root_keys = load_public_keys(opts.root_keys);
  if (!root_keys) return report_failure(root_keys.error());
  auto release_keys = load_public_keys(opts.release_keys);
  if (!release_keys) return report_failure(release_keys.error());
  auto expires = expiry(opts, common::now_utc() + std::chrono::days(365));
  if (!expires) return report_usage(expires.error().describe());
  signing::RootSpec spec{.version = 1,
                         .expires = *expires,
                         .root_keys = std::move(*root_keys),
                         .release_keys = std::move(*release_keys),
                         .root_threshold = opts.root_threshold ? opts.root_threshold : 1,
                         .release_threshold = opts.release_threshold ? opts.release_threshold : 1};
  return sign_and_write(spec, opts, nullptr);
}

int run_rotate(const RootOptions& opts) {
  auto old_root = signing::TrustRoot::load(opts.from);
  if (!old_root) return report_failure(old_root.error());
  auto keep = [&](const signing::Role& role) {
    std::vector<signing::PublicKey> keys;
    for (const auto& id : role.keyids) keys.push_back(old_root->keys().at(id));
    return keys;
  };
  signing::RootSpec spec{.version = old_root->version() + 1,
                         .expires = old_root->expires(),
                         .root_keys = keep(old_root->root_role()),
                         .release_keys = keep(old_root->release_role()),
                         .root_threshold = old_root->root_role().threshold,
                         .release_threshold = old_root->release_role().threshold};
  if (!opts.root_keys.empty()) {
    auto keys = load_public_keys(opts.root_keys);
    if (!keys) return report_failure(keys.error());
    spec.root_keys = std::move(*keys);
  }
  if (!opts.release_keys.empty()) {
    auto keys = load_public_keys(opts.release_keys);
    if (!keys) return report_failure(keys.error());
    spec.release_keys = std::move(*keys);
  }
  if (opts.root_threshold) spec.root_threshold = opts.root_threshold;
  if (opts.release_threshold) spec.release_threshold = opts.release_threshold;
  auto expires = expiry(opts, old_root->expires());
  if (!expires) return report_usage(expires.error().describe());
  spec.expires = *expires;
  return sign_and_write(spec, opts, &*old_root);
}

int run_verify(const RootOptions& opts) {
  auto root = load_root_chain(opts.root, opts.updates);
  if (!root) return report_failure(root.error());
  if (auto ok = root->check_current(common::now_utc()); !ok) return report_failure(ok.error());
  std::cout << "valid: ";
  describe_root(*root);
  return static_cast<int>(kExitOk);
}

}  // namespace

void add_root_commands(CLI::App& app, int& exit_code) {
  auto* root = app.add_subcommand("root", "Create, rotate and check the root of trust (root.json)");
  root->require_subcommand(1);
  auto opts = std::make_shared<RootOptions>();

  auto* init = root->add_subcommand("init", "Write root version 1, signed by --sign keys");
  add_role_options(*init, *opts, true);
  on_run(*init, exit_code, [opts] { return run_init(*opts); });

  auto* rotate = root->add_subcommand(
      "rotate",
      "Write root version N+1 from --from. Devices accept it only if signed by a threshold of "
      "the old root keys and of the new ones: pass both with --sign. Roles, thresholds and "
      "expiry not given are kept.");
  rotate->add_option("--from", opts->from, "The current root (version N)")->required()->check(CLI::ExistingFile);
  add_role_options(*rotate, *opts, false);
  on_run(*rotate, exit_code, [opts] { return run_rotate(*opts); });

  auto* verify = root->add_subcommand(
      "verify", "Check a root's signatures and expiry, walking --root-update files in order");
  verify->add_option("--root", opts->root, "The trusted root")->required();
  verify->add_option("--root-update", opts->updates, "Newer root, one version up (repeatable, in order)");
  on_run(*verify, exit_code, [opts] { return run_verify(*opts); });
}

}  // namespace flotilla::cli
