// flotilla bundle create | inspect | verify
#include <filesystem>
#include <iostream>

#include "artifacts/errors.hpp"
#include "artifacts/reader.hpp"
#include "artifacts/writer.hpp"
#include "cli/command.hpp"
#include "cli/loading.hpp"
#include "cli/progress.hpp"
#include "common/json.hpp"

namespace flotilla::cli {
namespace {

struct CreateOptions {
  std::vector<std::string> keys;
  std::string name, kind, component, version;
  std::int64_t security_version = 0;
  std::vector<std::string> compatible, requires_, raw_images, files, modules, swus;
  std::string reboot = "required", compress = "none", notes, created, out;
  bool force = false;
};

// "LEFT=RIGHT" with both sides non-empty.
bool split_assignment(const std::string& text, std::string& left, std::string& right) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) return false;
  left = text.substr(0, eq);
  right = text.substr(eq + 1);
  return true;
}

// Turns the payload options into writer inputs, in the order raw images,
// files, modules, SWUpdate images (the manifest order; docs/cli.md says so).
common::Result<std::vector<artifacts::PayloadInput>> payload_inputs(const CreateOptions& opts) {
  std::vector<artifacts::PayloadInput> inputs;
  auto usage = [](const std::string& message) {
    return common::fail(artifacts::Errc::kBadInput, message);
  };
  auto add = [&](artifacts::Payload payload, const std::string& source) -> common::Status {
    payload.name = std::filesystem::path(source).filename().string();
    if (!artifacts::is_safe_name(payload.name)) {
      return usage("payload file name \"" + payload.name + "\" must match [A-Za-z0-9._-]{1,128}");
    }
    for (const auto& existing : inputs) {
      if (existing.payload.name == payload.name) {
        return usage("two payloads are named \"" + payload.name + "\" (names are the files' base names)");
      }
    }
    inputs.push_back({std::move(payload), source});
    return {};
  };
  for (const auto& spec : opts.raw_images) {
    artifacts::Payload p;
    std::string file;
    if (!split_assignment(spec, p.slot, file)) return usage("--raw-image takes SLOT=FILE, got \"" + spec + "\"");
    if (!artifacts::is_safe_name(p.slot, 64)) return usage("--raw-image: bad slot name \"" + p.slot + "\"");
    p.type = artifacts::PayloadType::kRawImage;
    if (auto ok = add(std::move(p), file); !ok) return std::unexpected(ok.error());
  }
  for (const auto& spec : opts.files) {
    artifacts::Payload p;
    std::string file;
    if (!split_assignment(spec, p.path, file)) {
      return usage("--file takes DEST_PATH=FILE[:MODE], got \"" + spec + "\"");
    }
    p.type = artifacts::PayloadType::kFile;
    if (auto colon = file.rfind(':'); colon != std::string::npos) {
      std::string mode = file.substr(colon + 1);
      if (mode.empty() || mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos ||
          std::stoul(mode, nullptr, 8) > 0777) {
        return usage("--file: mode \"" + mode + "\" must be octal permission bits such as 0644");
      }
      p.mode = static_cast<std::uint32_t>(std::stoul(mode, nullptr, 8));
      file = file.substr(0, colon);
    }
    if (auto ok = add(std::move(p), file); !ok) return std::unexpected(ok.error());
  }
  for (const auto& spec : opts.modules) {
    artifacts::Payload p;
    std::string file;
    if (!split_assignment(spec, p.module, file)) return usage("--module takes MODULE=FILE, got \"" + spec + "\"");
    p.type = artifacts::PayloadType::kModule;
    if (auto ok = add(std::move(p), file); !ok) return std::unexpected(ok.error());
  }
  for (const auto& file : opts.swus) {
    artifacts::Payload p;
    p.type = artifacts::PayloadType::kSwu;
    if (auto ok = add(std::move(p), file); !ok) return std::unexpected(ok.error());
  }
  if (!opts.swus.empty() && inputs.size() != opts.swus.size()) {
    return usage("--swu: a bundle with SWUpdate images carries no --raw-image, --file or --module");
  }
  if (inputs.empty()) return usage("give at least one --raw-image, --file, --module or --swu");
  return inputs;
}

common::Result<artifacts::Manifest> manifest_fields(const CreateOptions& opts) {
  auto usage = [](const std::string& message) { return common::fail(artifacts::Errc::kBadInput, message); };
  artifacts::Manifest m;
  m.name = opts.name;
  m.kind = *artifacts::parse_kind(opts.kind);
  m.component = opts.component;
  auto version = common::Version::parse(opts.version);
  if (!version) return common::propagate(version, "--version");
  m.version = *version;
  m.security_version = opts.security_version;
  m.compatible = opts.compatible;
  for (const auto& spec : opts.requires_) {
    std::string component, range_text;
    if (!split_assignment(spec, component, range_text)) {
      return usage("--requires takes COMPONENT=RANGE, got \"" + spec + "\"");
    }
    auto range = common::VersionRange::parse(range_text);
    if (!range) return common::propagate(range, "--requires " + component);
    m.requires_.push_back({component, std::move(*range)});
  }
  if (opts.created.empty()) {
    m.created = common::now_utc();
  } else {
    auto created = common::parse_rfc3339(opts.created);
    if (!created) return common::propagate(created, "--created");
    m.created = *created;
  }
  m.reboot_required = opts.reboot == "required";
  m.notes = opts.notes;
  return m;
}

int run_create(const CreateOptions& opts) {
  if (!opts.force && std::filesystem::exists(opts.out)) {
    return report_usage(opts.out + " exists; pass --force to replace it");
  }
  auto manifest = manifest_fields(opts);
  if (!manifest) return report_usage(manifest.error().describe());
  auto inputs = payload_inputs(opts);
  if (!inputs) return report_usage(inputs.error().describe());
  auto keys = load_private_keys(opts.keys);
  if (!keys) return report_failure(keys.error());

  artifacts::BundleSpec spec{std::move(*manifest), std::move(*inputs),
                             opts.compress == "zstd" ? artifacts::Compression::kZstd
                                                     : artifacts::Compression::kNone};
  ProgressBar bar("bundling");
  auto written = artifacts::write_bundle(spec, pointers_to(*keys), opts.out,
                                         [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  if (!written) {
    // A spec the manifest validator refuses is the caller's input.
    if (written.error().is(artifacts::Errc::kBadInput)) return report_usage(written.error().describe());
    return report_failure(written.error());
  }
  std::cout << "bundle " << written->manifest.name << " " << written->manifest.version.text()
            << " written to " << opts.out << "\n"
            << "bundle id " << written->bundle_id << "\n";
  return static_cast<int>(kExitOk);
}

void print_inspection(const artifacts::Inspection& inspection) {
  std::cout << "bundle id  " << inspection.bundle_id << "\n";
  if (inspection.manifest) {
    const auto& m = *inspection.manifest;
    std::cout << "name       " << m.name << "\n"
              << "kind       " << artifacts::kind_name(m.kind) << "\n"
              << "component  " << m.component << "\n"
              << "version    " << m.version.text() << " (security version " << m.security_version << ")\n"
              << "created    " << common::format_rfc3339(m.created) << "\n"
              << "reboot     " << (m.reboot_required ? "required" : "none") << "\n"
              << "compatible";
    for (const auto& t : m.compatible) std::cout << " " << t;
    std::cout << "\n";
    for (const auto& r : m.requires_) std::cout << "requires   " << r.component << " " << r.range.text() << "\n";
    if (!m.notes.empty()) std::cout << "notes      " << m.notes << "\n";
    std::cout << "payloads\n";
    for (const auto& p : m.payloads) {
      std::cout << "  " << p.name << "  " << artifacts::payload_type_name(p.type) << "  ";
      switch (p.type) {
        case artifacts::PayloadType::kRawImage: std::cout << "slot " << p.slot; break;
        case artifacts::PayloadType::kFile: std::cout << "path " << p.path; break;
        case artifacts::PayloadType::kModule: std::cout << "module " << p.module; break;
        case artifacts::PayloadType::kSwu: std::cout << "SWUpdate image"; break;
      }
      std::cout << "  " << p.size << " bytes  sha256 " << p.sha256 << "\n";
    }
  } else {
    std::cout << "manifest   invalid: " << inspection.manifest_error->describe() << "\n";
  }
  std::cout << "signatures (not verified; use bundle verify)\n";
  for (const auto& s : inspection.envelope.signatures) std::cout << "  key id " << s.keyid << "\n";
  std::cout << "entries\n";
  for (const auto& e : inspection.entries) {
    std::cout << "  " << e.path << "  " << e.size << " bytes" << (e.regular ? "" : "  (not a regular file)")
              << "\n";
  }
}

common::Json inspection_json(const artifacts::Inspection& inspection) {
  common::Json out;
  out["bundle_id"] = inspection.bundle_id;
  out["payload_type"] = inspection.envelope.payload_type;
  if (inspection.manifest) {
    out["manifest"] = common::Json::parse(serialize_manifest(*inspection.manifest));
  } else {
    out["manifest"] = nullptr;
    out["manifest_error"] = inspection.manifest_error->describe();
  }
  out["signatures"] = common::Json::array();
  for (const auto& s : inspection.envelope.signatures) out["signatures"].push_back({{"keyid", s.keyid}});
  out["entries"] = common::Json::array();
  for (const auto& e : inspection.entries) {
    out["entries"].push_back({{"path", e.path}, {"size", e.size}, {"regular", e.regular}});
  }
  return out;
}

}  // namespace

void add_bundle_commands(CLI::App& app, int& exit_code) {
  auto* bundle = app.add_subcommand("bundle", "Create, inspect and verify signed update bundles (.flb)");
  bundle->require_subcommand(1);

  auto create_opts = std::make_shared<CreateOptions>();
  auto* create = bundle->add_subcommand(
      "create",
      "Build and sign a bundle. Payloads are written in the order: raw images, files, modules, SWUpdate images; "
      "each payload is named after its file's base name.");
  auto& c = *create_opts;
  create->add_option("--key", c.keys, "Release private key that signs the manifest (repeatable)")->required();
  create->add_option("--name", c.name, "Bundle name, [A-Za-z0-9._-]")->required();
  create->add_option("--kind", c.kind, "What it updates")->required()->check(CLI::IsMember({"os", "driver", "firmware"}));
  create->add_option("--component", c.component, "Inventory component it updates, e.g. rootfs")->required();
  create->add_option("--version", c.version, "SemVer 2.0 version")->required();
  create->add_option("--security-version", c.security_version, "Anti-rollback counter (integer >= 0)")
      ->required()->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 53));
  create->add_option("--compatible", c.compatible, "Device type it may install on (repeatable)")->required();
  create->add_option("--requires", c.requires_, "COMPONENT=RANGE that must hold first, e.g. rootfs='>=2.3.0 <3.0.0' (repeatable)");
  create->add_option("--raw-image", c.raw_images, "SLOT=FILE: image streamed into the inactive slot (repeatable)");
  create->add_option("--file", c.files, "DEST_PATH=FILE[:MODE]: file installed at an absolute path (repeatable)");
  create->add_option("--module", c.modules, "MODULE=FILE: payload handed to an update module (repeatable)");
  create->add_option("--swu", c.swus,
                     "FILE.swu: a signed SWUpdate image for devices served over hawkBit DDI, served to them whole "
                     "(repeatable; not with the other payload options)");
  create->add_option("--reboot", c.reboot, "Whether installing needs a reboot")
      ->check(CLI::IsMember({"required", "none"}))->capture_default_str();
  create->add_option("--compress", c.compress, "Compress the whole bundle")
      ->check(CLI::IsMember({"zstd", "none"}))->capture_default_str();
  create->add_option("--notes", c.notes, "Free text for people");
  create->add_option("--created", c.created, "RFC 3339 creation time (default: now), for reproducible builds");
  create->add_option("-o,--output", c.out, "Output .flb file")->required();
  create->add_flag("--force", c.force, "Replace an existing output file");
  on_run(*create, exit_code, [create_opts] { return run_create(*create_opts); });

  struct InspectOptions {
    std::string file;
    bool json = false;
  };
  auto inspect_opts = std::make_shared<InspectOptions>();
  auto* inspect = bundle->add_subcommand(
      "inspect", "Show a bundle's manifest, payloads, signatures and entries (verifies nothing)");
  inspect->add_option("FILE", inspect_opts->file, "The bundle")->required();
  inspect->add_flag("--json", inspect_opts->json, "Print JSON");
  on_run(*inspect, exit_code, [inspect_opts] {
    auto source = artifacts::FileSource::open(inspect_opts->file);
    if (!source) return report_failure(source.error());
    auto inspection = artifacts::inspect_bundle(**source);
    if (!inspection) return report_failure(inspection.error().with_context(inspect_opts->file));
    if (inspect_opts->json) {
      std::cout << inspection_json(*inspection).dump(2) << "\n";
    } else {
      print_inspection(*inspection);
    }
    return static_cast<int>(kExitOk);
  });

  struct VerifyOptions {
    std::string root, device_type, file;
    std::vector<std::string> updates;
  };
  auto verify_opts = std::make_shared<VerifyOptions>();
  auto* verify = bundle->add_subcommand(
      "verify", "Verify a bundle against a trust root: exit 0 valid, 1 invalid (reason on stderr), 2 usage");
  verify->add_option("--root", verify_opts->root, "Trusted root.json")->required();
  verify->add_option("--root-update", verify_opts->updates, "Newer root to walk to first (repeatable, in order)");
  verify->add_option("--device-type", verify_opts->device_type, "Also require the bundle to be compatible with it");
  verify->add_option("FILE", verify_opts->file, "The bundle")->required();
  on_run(*verify, exit_code, [verify_opts] {
    auto root = load_root_chain(verify_opts->root, verify_opts->updates);
    if (!root) return report_failure(root.error());
    auto source = artifacts::FileSource::open(verify_opts->file);
    if (!source) return report_failure(source.error());
    artifacts::VerifyOptions options;
    options.root = &*root;
    options.now = common::now_utc();
    if (!verify_opts->device_type.empty()) options.device_type = verify_opts->device_type;
    ProgressBar bar("verifying");
    options.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
    artifacts::DiscardSinkFactory discard;
    auto verified = artifacts::read_bundle(**source, options, discard);
    if (!verified) return report_failure(verified.error().with_context("invalid bundle " + verify_opts->file));
    std::cout << "valid: " << verified->manifest.name << " " << verified->manifest.version.text()
              << " (bundle id " << verified->bundle_id << ")\n";
    return static_cast<int>(kExitOk);
  });
}

}  // namespace flotilla::cli
