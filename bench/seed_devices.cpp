// bench_seed_devices: fills a server's store with N accepted devices,
// each with the bearer token "dev_bench_<i>" (i = 1..N), straight into
// the database (SQLite in a data directory, or PostgreSQL by URL):
// enrolling 100k devices through the API would take minutes
// and is not what the poll and scheduler benchmarks measure. Each device
// reports rootfs 2.3.0 in its inventory.
//   bench_seed_devices DATA_DIR|postgres://... N [COMPONENTS]
// With COMPONENTS = 3 (the compliance benchmark) each device also has a
// signed-inventory record (counter 1, digest), was seen now, carries a
// site label, and reports bootloader and modem versions; a third of the
// devices run an older rootfs.
#include <iostream>
#include <string>

#include "common/encoding.hpp"
#include "common/time.hpp"
#include "server/store/sql.hpp"
#include "signing/digest.hpp"

int main(int argc, char** argv) {
  using namespace flotilla;
  namespace sql = server::sql;
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: bench_seed_devices DATA_DIR|postgres://... N [COMPONENTS]\n";
    return 2;
  }
  long n = std::stol(argv[2]);
  bool full = argc == 4 && std::stol(argv[3]) >= 3;
  std::string store = argv[1];
  auto opened = sql::engine_of(store) == sql::Engine::kPostgres ? sql::open_postgres(store)
                                                                : sql::open_sqlite(store + "/flotilla.db");
  if (!opened) {
    std::cerr << opened.error().describe() << "\n";
    return 1;
  }
  auto& db = *opened;
  auto now = common::now_utc();
  auto now_text = common::format_rfc3339(now);
  auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto expires = (now + std::chrono::hours(24)).time_since_epoch().count();
  auto tx = sql::Transaction::begin(*db);
  auto device = db->prepare(
      "INSERT INTO devices (id, device_type, identity, public_key, status, labels, created_at, inventory_digest, inventory_at) "
      "VALUES (?, 'gw-x1', ?, 'bench', 'accepted', '{}', ?, 'bench', ?) RETURNING key");
  auto token = db->prepare("INSERT INTO device_tokens (token_hash, device, expires_at) VALUES (?, ?, ?)");
  auto component = db->prepare(
      "INSERT INTO device_components (device, component, version, security_version) VALUES (?, 'rootfs', '2.3.0', 1)");
  auto extra = db->prepare(
      "INSERT INTO device_components (device, component, version, security_version) VALUES (?, ?, ?, ?)");
  auto evidence = db->prepare(
      "UPDATE devices SET inventory = ?, inventory_digest = ?, report_counter = 1, labels = ?, device_type = ? WHERE key = ?");
  auto seen = db->prepare("INSERT INTO device_seen (device, last_seen) VALUES (?, ?)");
  if (!tx || !device || !token || !component || !extra || !evidence || !seen) {
    std::cerr << "cannot prepare the seed statements\n";
    return 1;
  }
  for (long i = 1; i <= n; ++i) {
    std::string id = signing::sha256_hex("bench-device-" + std::to_string(i));
    device->reset();
    device->bind(1, id).bind(2, "{\"serial\":\"B" + std::to_string(i) + "\"}").bind(3, now_text).bind(4, now_text);
    auto inserted = device->run_returning_int64();
    if (!inserted) {
      std::cerr << "insert failed at device " << i << ": " << inserted.error().describe() << "\n";
      return 1;
    }
    std::string secret = "dev_bench_" + std::to_string(i);
    auto hash = signing::sha256(common::as_bytes(secret));
    token->reset();
    std::int64_t key = *inserted;
    token->bind_blob(1, hash).bind(2, key).bind(3, std::int64_t{expires});
    component->reset();
    component->bind(1, key);
    if (!token->run() || !component->run()) {
      std::cerr << "insert failed at device " << i << "\n";
      return 1;
    }
    if (!full) continue;
    std::string inventory = "{\"counter\":1,\"device\":" + std::to_string(i) + "}";
    evidence->reset();
    evidence->bind(1, inventory).bind(2, signing::sha256_hex(inventory))
        .bind(3, "{\"site\":\"site-" + std::to_string(i % 20) + "\"}").bind(4, i % 4 == 0 ? "cam-2" : "gw-x1").bind(5, key);
    seen->reset();
    seen->bind(1, key).bind(2, std::int64_t{now_seconds});
    bool ok = evidence->run() && seen->run();
    for (auto [name, version] : {std::pair{"bootloader", i % 3 == 0 ? "1.0.0" : "1.1.0"}, std::pair{"modem", "5.2.1"}}) {
      extra->reset();
      extra->bind(1, key).bind(2, name).bind(3, version).bind(4, std::int64_t{3});
      ok = ok && extra->run();
    }
    if (!ok) {
      std::cerr << "insert failed at device " << i << "\n";
      return 1;
    }
  }
  if (!tx->commit()) return 1;
  std::cout << "seeded " << n << " devices\n";
  return 0;
}
