// bench_scheduler_pass: puts a bundle and a rollout over every device of
// type gw-x1 into a server data directory, then times one scheduler pass
// over it (unless --create-only).
//   bench_scheduler_pass [--create-only] DATA_DIR
// Prints "seconds=S rss_mib=M devices=N offers=K" (S: the pass alone; M:
// this process's peak RSS, which the pass dominates).
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <iostream>

#include "artifacts/manifest.hpp"
#include "server/scheduler/scheduler.hpp"
#include "server/store/sql_store.hpp"
#include "signing/digest.hpp"

namespace {

constexpr const char* kPolicy = R"({"name": "bench", "bundle": {"name": "gw-os", "version": "2.4.0"},
  "target": {"device_types": ["gw-x1"]},
  "waves": [{"name": "canary", "size": "1%", "min_devices": 50, "soak": "1h"},
            {"name": "early", "size": "10%", "soak": "6h"}, {"name": "all", "size": "100%"}],
  "failure": {"max_failure_rate": "5%", "min_finished": 100, "action": "pause"},
  "device_timeout": "6h", "device_retries": 1})";

int fail(const flotilla::common::Error& error) {
  std::cerr << "bench_scheduler_pass: " << error.describe() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flotilla;
  bool create_only = argc == 3 && std::strcmp(argv[1], "--create-only") == 0;
  if (argc != 2 && !create_only) {
    std::cerr << "usage: bench_scheduler_pass [--create-only] DATA_DIR\n";
    return 2;
  }
  auto store = server::SqlStore::open(std::string(argv[argc - 1]) + "/flotilla.db");
  if (!store) return fail(store.error());
  artifacts::Manifest m{.name = "gw-os", .component = "rootfs", .version = *common::Version::parse("2.4.0"),
                        .security_version = 1, .compatible = {"gw-x1"}, .created = common::now_utc()};
  m.payloads.push_back({.name = "rootfs.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs", .size = 1,
                        .sha256 = signing::sha256_hex("x")});
  std::string now = common::format_rfc3339(common::now_utc());
  server::BundleRecord bundle{.file_sha256 = signing::sha256_hex("bench bundle"), .bundle_id = signing::sha256_hex("bench id"),
                              .name = "gw-os", .kind = "os", .component = "rootfs", .version = "2.4.0",
                              .security_version = 1, .size = 1, .manifest_json = artifacts::serialize_manifest(m),
                              .signer_keyids_json = "[]", .uploaded_at = now, .uploaded_by = "bench"};
  if (auto ok = (*store)->insert_bundle(bundle, {"bench", "bundle.upload", "bundle:bench"}); !ok) return fail(ok.error());
  server::RolloutRecord rollout{.name = "bench", .policy_json = kPolicy, .bundle = bundle.file_sha256, .created_by = "bench",
                                .created_at = now, .updated_at = now};
  server::DeploymentRecord deployment{.bundle = bundle.file_sha256, .component = "rootfs", .created_by = "bench", .created_at = now};
  auto id = (*store)->create_rollout(rollout, deployment, {"bench", "rollout.create", "bundle:bench"});
  if (!id) return fail(id.error());
  if (create_only) return 0;

  auto record = (*store)->find_rollout(*id);
  if (!record || !*record) return 1;
  server::PassSummary summary;
  auto started = std::chrono::steady_clock::now();
  if (auto ok = server::advance_rollout(**store, **record, common::now_utc(), &summary); !ok) return fail(ok.error());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << "seconds=" << seconds << " rss_mib=" << static_cast<double>(usage.ru_maxrss) / 1024.0
            << " devices=" << summary.devices << " offers=" << summary.offers << "\n";
  return 0;
}
