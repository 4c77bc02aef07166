// The columns of a device record and how a row of them reads: shared by
// the device, poll and gateway queries. Internal to the store.
#pragma once

#include "common/time.hpp"
#include "server/store/sql.hpp"
#include "server/store/store.hpp"

namespace flotilla::server {

// Device queries read `devices d` joined with its last_seen (Unix seconds,
// formatted here: the engines format times differently); the token
// lookups of the hot path pass NULL for it and for the inventory.
#define FLOTILLA_DEVICE_COLUMNS(LAST_SEEN, INVENTORY)                                                          \
  "SELECT d.key, d.id, d.device_type, d.identity, d.public_key, d.status, d.labels, d.created_at, "           \
  LAST_SEEN ", d.report_counter, " INVENTORY ", d.inventory_digest, d.inventory_at, d.tampered, d.utc_offset, "   \
  "d.protocol, d.attributes, d.parent, d.child_id, d.gateway, d.orphaned "
#define FLOTILLA_DEVICE_SELECT \
  FLOTILLA_DEVICE_COLUMNS("s.last_seen", "d.inventory") "FROM devices d LEFT JOIN device_seen s ON s.device = d.key "

inline constexpr int kDeviceColumnCount = 21;  // FLOTILLA_DEVICE_COLUMNS

inline std::optional<std::string> rfc3339_of(std::optional<std::int64_t> unix_seconds) {
  return unix_seconds ? std::optional(common::format_unix_seconds(*unix_seconds)) : std::nullopt;
}

inline DeviceRecord device_from_row(const sql::Statement& row) {
  return {row.int64(0),         row.text(1),           row.text(2),           row.text(3),
          row.text(4),          row.text(5),           row.text(6),           row.text(7),
          rfc3339_of(row.optional_int64(8)), row.int64(9), row.optional_text(10), row.optional_text(11),
          row.optional_text(12), row.int64(13) != 0, row.optional_text(14), row.text(15), row.optional_text(16),
          row.optional_text(17), row.optional_text(18), row.int64(19) != 0, row.int64(20) != 0};
}

}  // namespace flotilla::server
