// Fuzz target: what `flotilla compliance verify` reads from an auditor's
// file — the envelope (with the large-report limit) and, as if its
// signature had verified, the report payload with its counts.
#include <cstdint>

#include "cli/report_verifier.hpp"
#include "common/encoding.hpp"
#include "signing/dsse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace flotilla;
  (void)signing::parse_envelope(common::as_text({data, size}), cli::kMaxReportBytes);
  (void)cli::check_report_payload({data, size}, "fuzz-key");
  return 0;
}
