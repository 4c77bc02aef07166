// Offline verification of a signed compliance report (docs/compliance.md):
// the DSSE signature by the report key, the payload's structure, and that
// the summary counts are the counts of its rows. No server is involved.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "common/error.hpp"
#include "signing/key.hpp"

namespace flotilla::cli {

struct VerifiedReport {
  std::string generated_at;
  std::string baseline;  // name, or "" for the default rule
  std::int64_t devices = 0;
  std::int64_t rows = 0;
  std::map<std::string, std::int64_t> by_status;
  std::int64_t audit_seq = 0;
  std::string audit_hash;
  std::string key_id;
};

// At most kMaxReportBytes are read; the rows are checked one at a time
// and not kept.
inline constexpr std::uint64_t kMaxReportBytes = std::uint64_t{4} << 30;
common::Result<VerifiedReport> verify_report_file(const std::filesystem::path& file, const signing::PublicKey& key);

// The checks after the signature: structure and counts of a payload that
// claims to be signed by `key_id`. Separate so it can be fuzzed.
common::Result<VerifiedReport> check_report_payload(std::span<const std::uint8_t> payload, const std::string& key_id);

}  // namespace flotilla::cli
