// bench_seed_devices: fills a server data directory with N accepted
// devices, each with the bearer token "dev_bench_<i>" (i = 1..N), straight
// into SQLite: enrolling 100k devices through the API would take minutes
// and is not what the poll and scheduler benchmarks measure. Each device
// reports rootfs 2.3.0 in its inventory.
//   bench_seed_devices DATA_DIR N
#include <iostream>
#include <string>

#include "common/encoding.hpp"
#include "common/sqlite.hpp"
#include "common/time.hpp"
#include "signing/digest.hpp"

int main(int argc, char** argv) {
  using namespace flotilla;
  if (argc != 3) {
    std::cerr << "usage: bench_seed_devices DATA_DIR N\n";
    return 2;
  }
  long n = std::stol(argv[2]);
  auto db = common::Database::open(std::string(argv[1]) + "/flotilla.db");
  if (!db) {
    std::cerr << db.error().describe() << "\n";
    return 1;
  }
  auto now = common::format_rfc3339(common::now_utc());
  auto expires = (common::now_utc() + std::chrono::hours(24)).time_since_epoch().count();
  auto tx = common::Transaction::begin(*db);
  auto device = db->prepare(
      "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, inventory_digest, inventory_at) "
      "VALUES (?, 'gw-x1', ?, 'bench', 'accepted', '{}', ?, 'bench', ?)");
  auto token = db->prepare("INSERT INTO device_tokens (token_hash, device, expires_at) VALUES (?, ?, ?)");
  auto component = db->prepare(
      "INSERT INTO device_components (device, component, version, security_version) VALUES (?, 'rootfs', '2.3.0', 1)");
  if (!tx || !device || !token || !component) {
    std::cerr << "cannot prepare the seed statements\n";
    return 1;
  }
  for (long i = 1; i <= n; ++i) {
    std::string id = signing::sha256_hex("bench-device-" + std::to_string(i));
    device->reset();
    device->bind(1, id).bind(2, "{\"serial\":\"B" + std::to_string(i) + "\"}").bind(3, now).bind(4, now);
    if (!device->run()) {
      std::cerr << "insert failed at device " << i << "\n";
      return 1;
    }
    std::string secret = "dev_bench_" + std::to_string(i);
    auto hash = signing::sha256(common::as_bytes(secret));
    token->reset();
    std::int64_t key = db->last_insert_rowid();
    token->bind_blob(1, hash).bind(2, key).bind(3, std::int64_t{expires});
    component->reset();
    component->bind(1, key);
    if (!token->run() || !component->run()) {
      std::cerr << "insert failed at device " << i << "\n";
      return 1;
    }
  }
  if (!tx->commit()) return 1;
  std::cout << "seeded " << n << " devices\n";
  return 0;
}
