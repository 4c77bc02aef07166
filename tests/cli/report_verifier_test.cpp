// The offline report checks: a report whose counts add up passes; every
// way the counts or the structure can lie is named; a signed file verifies
// only with its key, and large signed reports stream through
// EnvelopeFileWriter.
#include <gtest/gtest.h>

#include "cli/report_verifier.hpp"
#include "common/encoding.hpp"
#include "common/json.hpp"
#include "signing/dsse.hpp"
#include "signing/dsse_file.hpp"
#include "tests/support/fixtures.hpp"

namespace flotilla {
namespace {

using common::Json;

Json row(const std::string& device, const std::string& component, const std::string& status,
         const std::string& device_status, const std::string& type = "gw-x1") {
  return {{"device_id", device}, {"device_type", type}, {"labels", Json::object()}, {"component", component},
          {"status", status}, {"device_status", device_status}, {"reason", ""}, {"installed_version", "2.3.0"},
          {"installed_security_version", 6}, {"required_version", "2.4.0"}, {"required_security_version", nullptr},
          {"deadline", nullptr}, {"last_seen", nullptr}, {"last_update_result", nullptr}, {"last_update_at", nullptr},
          {"last_update_deployment", nullptr}, {"report_counter", 1}, {"report_digest", std::string(64, 'a')},
          {"report_at", nullptr}};
}

Json valid_report() {
  return {{"report", "flotilla-compliance"},
          {"report_version", 1},
          {"generated_at", "2026-11-25T00:00:00Z"},
          {"baseline", {{"name", "q"}}},
          {"filters", Json::object()},
          {"report_key_id", "k"},
          {"rows",
           {row("d1", "rootfs", "outdated", "overdue"), row("d1", "modem", "overdue", "overdue"),
            row("d2", "rootfs", "compliant", "compliant", "cam-2")}},
          {"summary",
           {{"devices", 2},
            {"rows", 3},
            {"by_status", {{"overdue", 1}, {"compliant", 1}, {"failed", 0}}},
            {"by_device_type", {{"gw-x1", {{"overdue", 1}}}, {"cam-2", {{"compliant", 1}}}}}}},
          {"audit_head", {{"seq", 12}, {"hash", std::string(64, 'b')}}}};
}

common::Result<cli::VerifiedReport> check(const Json& report, const std::string& key_id = "k") {
  auto text = report.dump();
  return cli::check_report_payload(common::as_bytes(text), key_id);
}

std::string problem(const Json& report) {
  auto result = check(report);
  return result ? std::string("accepted") : result.error().message();
}

TEST(ReportVerifier, CountsThatAddUpPass) {
  auto verified = check(valid_report());
  ASSERT_TRUE(verified) << verified.error().describe();
  EXPECT_EQ(verified->devices, 2);
  EXPECT_EQ(verified->rows, 3);
  EXPECT_EQ(verified->by_status.at("overdue"), 1);
  EXPECT_EQ(verified->audit_seq, 12);
}

TEST(ReportVerifier, EveryLieIsNamed) {
  auto report = valid_report();
  report["summary"]["devices"] = 3;
  EXPECT_NE(problem(report).find("/summary/devices"), std::string::npos);
  report = valid_report();
  report["summary"]["by_status"]["compliant"] = 2;
  EXPECT_NE(problem(report).find("/summary/by_status"), std::string::npos);
  report = valid_report();
  report["summary"]["by_device_type"]["cam-2"]["compliant"] = 0;
  EXPECT_NE(problem(report).find("/summary/by_device_type/cam-2"), std::string::npos);
  report = valid_report();
  report["rows"][1]["device_status"] = "compliant";  // one device, two statuses
  EXPECT_NE(problem(report).find("/rows/1/device_status"), std::string::npos);
  report = valid_report();
  report["rows"].push_back(row("d1", "bootloader", "overdue", "overdue"));  // d1 again, apart
  report["summary"]["rows"] = 4;
  EXPECT_NE(problem(report).find("not together"), std::string::npos);
  report = valid_report();
  report["rows"][0]["status"] = "green";
  EXPECT_NE(problem(report).find("/rows/0/status"), std::string::npos);
  report = valid_report();
  report["rows"][2]["report_counter"] = "1";
  EXPECT_NE(problem(report).find("/rows/2/report_counter"), std::string::npos);
  report = valid_report();
  report["audit_head"]["hash"] = "xyz";
  EXPECT_NE(problem(report).find("/audit_head"), std::string::npos);
  report = valid_report();
  report["report"] = 7;  // a wrong type is an error, not an exception
  EXPECT_NE(problem(report).find("/report"), std::string::npos);
  EXPECT_FALSE(check(valid_report(), "another-key"));
  EXPECT_FALSE(cli::check_report_payload(common::as_bytes(std::string("{\"rows\": [")), "k"));
}

// A report signed as the server signs it (streamed, ECDSA over a digest)
// verifies with the report key and with no other; an Ed25519 report key
// (data directories created before ECDSA became the default) works too.
TEST(ReportVerifier, StreamedSignatureVerifiesWithItsKeyOnly) {
  testing::TempDir dir;
  for (auto algorithm : {signing::Algorithm::kEcdsaP256, signing::Algorithm::kEd25519}) {
    auto key = signing::PrivateKey::generate(algorithm);
    ASSERT_TRUE(key);
    auto report = valid_report();
    report["report_key_id"] = key->key_id();
    // Written in uneven pieces, as the export writes it.
    auto text = report.dump();
    auto writer = signing::EnvelopeFileWriter::open(signing::kReportType, dir / "report.signed.json");
    ASSERT_TRUE(writer);
    for (std::size_t at = 0, piece = 1; at < text.size(); at += piece, piece = piece * 2 + 1) {
      ASSERT_TRUE((*writer)->write(std::string_view(text).substr(at, piece)));
    }
    ASSERT_TRUE((*writer)->finish(*key));
    // An ordinary DSSE envelope: the in-memory verifier accepts it too.
    auto envelope = signing::parse_envelope(testing::read_text(dir / "report.signed.json"));
    ASSERT_TRUE(envelope);
    auto verified = cli::verify_report_file(dir / "report.signed.json", key->public_key());
    ASSERT_TRUE(verified) << verified.error().describe();
    EXPECT_EQ(verified->devices, 2);
    auto other = signing::PrivateKey::generate(algorithm);
    EXPECT_FALSE(cli::verify_report_file(dir / "report.signed.json", other->public_key()));
  }
}

}  // namespace
}  // namespace flotilla
