// Compliance reports end to end on the real server and CLI: formats and
// filters, the status `devices show` gives, the signed report and the
// audit export verified offline, and each kind of tampering caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

#include "common/encoding.hpp"
#include "signing/digest.hpp"
#include "signing/audit_chain.hpp"
#include "tests/server/database_access.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using testing::read_text;
using testing::TestDevice;
using testing::write_text;

constexpr const char* kBaseline = R"({"name": "q", "max_staleness": "48h", "rules": [
  {"device_types": ["gw-x1"], "component": "rootfs", "min_version": "2.4.0", "min_security_version": 7,
   "deadline": "2099-01-01T00:00:00Z"}]})";

class ComplianceApiTest : public testing::RunningServer {
 protected:
  // Reports the front sent are removed a second after (the default minute
  // would outlast the tests).
  std::vector<std::string> serve_args() const override { return {"--export-grace", "1"}; }
  // True once the exports directory is empty again (bounded wait).
  bool exports_cleared() const {
    auto exports = server->data() / "exports";
    for (int i = 0; i < 100; ++i) {
      if (!std::filesystem::exists(exports) || std::filesystem::is_empty(exports)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  struct Output {
    int code;
    std::string out, err;
  };
  // Runs the CLI; `offline` runs it without a server or token.
  Output flotilla(const std::string& args, bool offline = false) {
    std::string command = std::string(FLOTILLA_CLI) +
                          (offline ? std::string(" --server http://127.0.0.1:1")
                                   : " --server " + server->url() + " --token-file '" +
                                         (server->data() / "admin.token").string() + "'") +
                          " " + args + " > '" + (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
    int code = testing::run_shell(command);
    return {code, read_text(dir / "out"), read_text(dir / "err")};
  }

  // Three gw-x1 devices: one current, one behind, one that never reported.
  void enroll_fleet() {
    std::string token = enrollment_token(R"(["gw-x1", "cam-2"])", 10);
    current = std::make_unique<TestDevice>(server->url(), "gw-x1", "C1");
    old = std::make_unique<TestDevice>(server->url(), "gw-x1", "O1");
    silent = std::make_unique<TestDevice>(server->url(), "gw-x1", "S1");
    for (auto* d : {current.get(), old.get(), silent.get()}) {
      ASSERT_EQ(d->auth(token).status, 200);
      ASSERT_EQ(d->poll().status, 200);
    }
    ASSERT_EQ(current->inventory(1, "2.4.0", 7).status, 200);
    ASSERT_EQ(old->inventory(1, "2.3.0", 6).status, 200);
    auto admin = admin_client();
    ASSERT_EQ(admin.request("PUT", "/api/v1/devices/" + old->id() + "/labels", R"({"labels": {"site": "berlin, north"}})")->status, 200);
    ASSERT_EQ(admin.request("PUT", "/api/v1/baselines/q", kBaseline)->status, 201);
  }

  std::unique_ptr<TestDevice> current, old, silent;
};

TEST_F(ComplianceApiTest, FormatsFiltersAndTheDeviceView) {
  enroll_fleet();
  auto admin = admin_client();
  auto report = admin.request("GET", "/api/v1/compliance?baseline=q");
  ASSERT_EQ(report->status, 200) << report->body;
  auto j = report->json();
  EXPECT_EQ(j["report"], "flotilla-compliance");
  EXPECT_EQ(j["summary"]["devices"], 3);
  EXPECT_EQ(j["summary"]["by_status"]["compliant"], 1);
  EXPECT_EQ(j["summary"]["by_status"]["outdated"], 1);
  EXPECT_EQ(j["summary"]["by_status"]["unknown"], 1);
  EXPECT_EQ(j["summary"]["by_device_type"]["gw-x1"]["outdated"], 1);
  EXPECT_EQ(j["audit_head"]["hash"].get<std::string>().size(), 64u);
  for (const auto& row : j["rows"]) {
    if (row["device_id"] != old->id()) continue;
    EXPECT_EQ(row["status"], "outdated");
    EXPECT_EQ(row["installed_version"], "2.3.0");
    EXPECT_EQ(row["installed_security_version"], 6);
    EXPECT_EQ(row["required_security_version"], 7);
    EXPECT_EQ(row["deadline"], "2099-01-01T00:00:00Z");
    EXPECT_EQ(row["labels"]["site"], "berlin, north");
    EXPECT_EQ(row["report_counter"], 1);
    // The row names the device-signed report; the evidence behind it is the
    // exact signed bytes, which hash to the digest and verify with the
    // device's key — checked here without trusting the server.
    auto evidence = admin.request("GET", "/api/v1/devices/" + old->id() + "/inventory")->json();
    std::string signed_body = evidence["body"];
    EXPECT_EQ(row["report_digest"], signing::sha256_hex(signed_body));
    EXPECT_EQ(evidence["counter"], 1);
    auto device_key = signing::PublicKey::from_pem(evidence["public_key"].get<std::string>());
    ASSERT_TRUE(device_key);
    EXPECT_EQ(device_key->key_id(), old->id());
    auto signature = common::from_base64(evidence["signature"].get<std::string>());
    ASSERT_TRUE(signature);
    EXPECT_TRUE(device_key->verify(common::as_bytes(signed_body), *signature));
    EXPECT_EQ(common::Json::parse(signed_body)["components"]["rootfs"]["version"], "2.3.0");
  }

  // The device view gives the same status, from the same function.
  auto shown = admin.request("GET", "/api/v1/devices/" + old->id() + "?baseline=q")->json();
  EXPECT_EQ(shown["compliance"]["status"], "outdated");
  EXPECT_EQ(shown["compliance"]["components"][0]["required_version"], "2.4.0");

  // Filters: status, label (value with a comma), type; summary route.
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?baseline=q&status=unknown")->json()["rows"][0]["device_id"], silent->id());
  auto labelled = admin.request("GET", "/api/v1/compliance?baseline=q&label=site%3Dberlin%2C%20north")->json();
  ASSERT_EQ(labelled["rows"].size(), 1u);
  EXPECT_EQ(labelled["rows"][0]["device_id"], old->id());
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?type=cam-2")->json()["summary"]["devices"], 0);
  auto summary = admin.request("GET", "/api/v1/compliance/summary?baseline=q")->json();
  EXPECT_EQ(summary["summary"]["by_status"]["compliant"], 1);
  EXPECT_EQ(summary["summary"]["devices"], 3);

  // Bad queries name the parameter; nothing echoes the input.
  auto bad = admin.request("GET", "/api/v1/compliance?status=green");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->json()["errors"][0]["path"], "status");
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?label=nolabel")->status, 400);
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?rollout=-1")->status, 400);
  auto unknown = admin.request("GET", "/api/v1/compliance?%3Cscript%3E=1");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(unknown->body.find("script"), std::string::npos);
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance/summary?format=csv")->status, 400);
  EXPECT_EQ(admin.request("GET", "/api/v1/devices/" + silent->id() + "/inventory")->status, 404);

  // CSV: RFC 4180, CRLF, a quoted field for the label with a comma.
  auto csv = admin.request("GET", "/api/v1/compliance?baseline=q&format=csv");
  ASSERT_EQ(csv->status, 200);
  EXPECT_TRUE(csv->body.starts_with("device_id,device_type,labels,component,status,device_status,reason,"));
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\n'), 4);  // header + 3 devices
  EXPECT_EQ(std::count(csv->body.begin(), csv->body.end(), '\r'), 4);
  EXPECT_NE(csv->body.find(R"("{""site"":""berlin, north""}")"), std::string::npos) << csv->body;
  EXPECT_NE(csv->body.find(",q,"), std::string::npos);

  // HTML: self-contained, charts inline, the outdated device before the compliant one.
  auto html = admin.request("GET", "/api/v1/compliance?baseline=q&format=html");
  ASSERT_EQ(html->status, 200);
  EXPECT_TRUE(html->body.starts_with("<!DOCTYPE html>"));
  EXPECT_NE(html->body.find("<svg"), std::string::npos);
  EXPECT_EQ(html->body.find("<script"), std::string::npos);
  EXPECT_LT(html->body.find(old->id()), html->body.find(current->id()));
  // Exports leave nothing behind in the data directory: the front sent
  // them, and they are removed after the grace.
  EXPECT_TRUE(exports_cleared());
}

// pending while a deployment runs; failed after it; a device that rolled
// back reports what it really runs and is not compliant.
TEST_F(ComplianceApiTest, PendingFailedAndRolledBack) {
  enroll_fleet();
  auto admin = admin_client();
  std::string bundle = upload_bundle("2.4.0");
  auto deployment = admin.request("POST", "/api/v1/deployments",
                                  common::Json{{"bundle", bundle}, {"devices", {old->id()}}}.dump());
  ASSERT_EQ(deployment->status, 201) << deployment->body;
  std::int64_t id = deployment->json()["id"];
  auto status_of_old = [&] {
    return admin.request("GET", "/api/v1/devices/" + old->id() + "?baseline=q")->json()["compliance"]["status"];
  };
  EXPECT_EQ(status_of_old(), "pending");
  ASSERT_EQ(old->poll().status, 200);
  ASSERT_EQ(old->event(id, 1, "downloading").status, 200);
  EXPECT_EQ(status_of_old(), "pending");
  ASSERT_EQ(old->event(id, 2, "rolled_back", "2.3.0").status, 200);
  ASSERT_EQ(old->inventory(2, "2.3.0", 6).status, 200);
  EXPECT_EQ(status_of_old(), "failed");
  auto rows = admin.request("GET", "/api/v1/compliance?baseline=q&status=failed")->json()["rows"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["installed_version"], "2.3.0");
  EXPECT_EQ(rows[0]["last_update_result"], "rolled_back");
  EXPECT_EQ(rows[0]["last_update_deployment"], id);
}

// A forged inventory (another key, a reused counter) is refused and never
// reaches a report.
TEST_F(ComplianceApiTest, ForgedInventoryNeverReachesAReport) {
  enroll_fleet();
  auto forger = signing::PrivateKey::generate(signing::Algorithm::kEd25519);
  ASSERT_TRUE(forger);
  common::Json body = {{"counter", 5},
                       {"timestamp", common::format_rfc3339(common::now_utc())},
                       {"components", {{"rootfs", {{"version", "9.9.9"}, {"security_version", 99}}}}},
                       {"booted_slot", "a"},
                       {"agent_version", "0.1.0"},
                       {"tamper", common::Json::object()}};
  auto forged = old->request("PUT", "/api/v1/device/inventory", body.dump(), old->signed_headers(body.dump(), &*forger));
  EXPECT_EQ(forged.status, 401);
  auto replayed = old->inventory(1, "9.9.9", 99);
  EXPECT_EQ(replayed.status, 409) << replayed.body;
  auto report = admin_client().request("GET", "/api/v1/compliance?baseline=q")->json();
  for (const auto& row : report["rows"]) {
    if (row["device_id"] == old->id()) {
      EXPECT_EQ(row["installed_version"], "2.3.0");
      EXPECT_EQ(row["report_counter"], 1);
    }
  }
}

// Through the real listener: a filter that is not UTF-8 (percent-encoded,
// as a client sends it) is a 400 naming it, for every report format, and
// leaves nothing in the data directory (it was a 500 and an empty export
// file per request).
TEST_F(ComplianceApiTest, AFilterThatIsNotUtf8IsA400AndLeavesNoExport) {
  enroll_fleet();
  auto admin = admin_client();
  auto exports = server->data() / "exports";
  auto litter = [&] { return std::filesystem::exists(exports) && !std::filesystem::is_empty(exports); };
  for (const char* format : {"json", "csv", "signed", "html"}) {
    for (const auto& [query, parameter] : std::vector<std::pair<std::string, std::string>>{
             {"type=%FF", "type"}, {"label=site%3D%C0%80", "label"}, {"baseline=%ED%A0%80", "baseline"}}) {
      auto response = admin.request("GET", "/api/v1/compliance?format=" + std::string(format) + "&" + query);
      ASSERT_EQ(response->status, 400) << format << " " << query << ": " << response->body;
      EXPECT_EQ(response->json()["errors"][0]["path"], parameter) << response->body;
      EXPECT_FALSE(litter()) << format << " " << query;
    }
  }
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance/summary?type=%FF")->status, 400);
  EXPECT_EQ(admin.request("GET", "/api/v1/devices/%FF")->status, 400);
  // A well-formed non-ASCII filter is still answered.
  EXPECT_EQ(admin.request("GET", "/api/v1/compliance?type=gw-%C3%A9")->status, 200);
  EXPECT_TRUE(exports_cleared());
}

// What an auditor does, with the CLI and no server: verify the signed
// report, then the audit export against the head the report names. Then
// each kind of tampering is caught.
TEST_F(ComplianceApiTest, AuditorVerifiesOfflineAndEveryTamperingIsCaught) {
  enroll_fleet();
  auto exported = flotilla("compliance export --baseline q --format signed -o '" + (dir / "report.signed.json").string() + "'");
  ASSERT_EQ(exported.code, 0) << exported.err;
  ASSERT_EQ(flotilla("trust report-key -o '" + (dir / "report-key.pub").string() + "'").code, 0);
  ASSERT_EQ(read_text(dir / "report-key.pub"), read_text(server->data() / "report.pub"));
  ASSERT_EQ(flotilla("audit export -o '" + (dir / "audit.jsonl").string() + "'").code, 0);

  auto verified = flotilla("--json compliance verify '" + (dir / "report.signed.json").string() + "' --key '" +
                               (dir / "report-key.pub").string() + "'",
                           true);
  ASSERT_EQ(verified.code, 0) << verified.err;
  auto facts = common::Json::parse(verified.out);
  EXPECT_EQ(facts["devices"], 3);
  EXPECT_EQ(facts["by_status"]["outdated"], 1);
  std::string head = facts["audit_head"]["hash"];
  auto chain = flotilla("audit verify --file '" + (dir / "audit.jsonl").string() + "' --head " + head, true);
  EXPECT_EQ(chain.code, 0) << chain.err;
  EXPECT_NE(chain.out.find("expected head found at seq " + facts["audit_head"]["seq"].dump()), std::string::npos) << chain.out;

  // 1. One byte of the signed report changed.
  auto envelope = read_text(dir / "report.signed.json");
  auto at = envelope.find("\"payload\":\"") + 40;
  envelope[at] = envelope[at] == 'A' ? 'B' : 'A';
  write_text(dir / "edited.signed.json", envelope);
  auto edited = flotilla("compliance verify '" + (dir / "edited.signed.json").string() + "' --key '" +
                             (dir / "report-key.pub").string() + "'",
                         true);
  EXPECT_EQ(edited.code, 1);
  EXPECT_NE(edited.err.find("signature"), std::string::npos) << edited.err;
  // A report checked with another key is refused too.
  auto other = signing::PrivateKey::generate(signing::Algorithm::kEcdsaP256);
  write_text(dir / "other.pub", other->public_key().to_pem());
  EXPECT_EQ(flotilla("compliance verify '" + (dir / "report.signed.json").string() + "' --key '" + (dir / "other.pub").string() + "'",
                     true)
                .code,
            1);

  // 2. A line of the audit export removed, or two lines swapped.
  std::vector<std::string> lines;
  {
    std::ifstream in(dir / "audit.jsonl");
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 5u);
  auto write_lines = [&](const std::vector<std::string>& chosen) {
    std::string text;
    for (const auto& l : chosen) text += l + "\n";
    write_text(dir / "changed.jsonl", text);
  };
  auto removed = lines;
  removed.erase(removed.begin() + 2);
  write_lines(removed);
  auto missing = flotilla("audit verify --file '" + (dir / "changed.jsonl").string() + "'", true);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("line 3"), std::string::npos) << missing.err;
  auto swapped = lines;
  std::swap(swapped[1], swapped[2]);
  write_lines(swapped);
  EXPECT_EQ(flotilla("audit verify --file '" + (dir / "changed.jsonl").string() + "'", true).code, 1);
  // Cut before the head the report names: entries it covered are missing.
  write_lines(std::vector<std::string>(lines.begin(), lines.begin() + 3));
  EXPECT_EQ(flotilla("audit verify --file '" + (dir / "changed.jsonl").string() + "' --head " + head, true).code, 1);

  // 3. A row changed in the server's database, by someone who can drop
  // the triggers and even recompute every hash after it: the new chain is
  // consistent, but it no longer passes through the head the signed
  // report names.
  ASSERT_EQ(server->stop(), 0);
  {
    auto db = testing::open_database_of(*server);
    ASSERT_TRUE(db);
    ASSERT_TRUE(testing::drop_audit_update_guard(*db));
    auto select = db->prepare("SELECT seq, time, actor, action, object, outcome, details FROM audit_log ORDER BY seq");
    ASSERT_TRUE(select);
    std::vector<signing::AuditEntry> entries;
    while (*select->step()) {
      entries.push_back({.seq = select->int64(0), .time = select->text(1), .actor = select->text(2),
                         .action = select->text(3), .object = select->text(4), .outcome = select->text(5),
                         .details = common::Json::parse(select->text(6))});
    }
    select->reset();
    entries[1].outcome = "denied";  // the rewrite
    std::string prev = signing::kGenesisHash;
    for (auto& e : entries) {
      e.prev_hash = prev;
      ASSERT_TRUE(signing::seal(e));
      prev = e.hash;
      auto update = db->prepare("UPDATE audit_log SET outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?");
      update->bind(1, e.outcome).bind(2, e.prev_hash).bind(3, e.hash).bind(4, e.seq);
      ASSERT_TRUE(update->run());
    }
  }
  server->start();
  ASSERT_EQ(flotilla("audit export -o '" + (dir / "rewritten.jsonl").string() + "'").code, 0);
  auto rewritten = flotilla("audit verify --file '" + (dir / "rewritten.jsonl").string() + "' --head " + head, true);
  EXPECT_EQ(rewritten.code, 1);
  EXPECT_NE(rewritten.err.find("never reaches the expected head"), std::string::npos) << rewritten.err;
}

// Renders `page` in headless Chromium (Debian's package, installed by
// scripts/setup) into `png`; returns what the browser logged.
std::string screenshot(const std::filesystem::path& page, const std::filesystem::path& png, const std::filesystem::path& profile,
                       const std::string& size = "1100,1400") {
  auto log = png.string() + ".log";
  std::string command = "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir='" + profile.string() +
                        "' --window-size=" + size + " --enable-logging=stderr --v=0 --screenshot='" + png.string() + "' 'file://" +
                        page.string() + "' > '" + log + "' 2>&1";
  EXPECT_EQ(testing::run_shell(command, 120), 0) << read_text(log);
  return read_text(log);
}

// Width and height from a PNG's IHDR; {0, 0} when it is not a PNG.
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || png.compare(12, 4, "IHDR") != 0) return {0, 0};
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
  };
  return {be32(16), be32(20)};
}

// The HTML report in a real browser: it loads without a console error or a
// blocked resource (the page's own CSP would log one), and its charts draw
// something: a screenshot of the chart alone is far from a blank one.
TEST_F(ComplianceApiTest, HtmlReportRendersInHeadlessChromium) {
  enroll_fleet();
  ASSERT_EQ(flotilla("compliance export --baseline q --format html -o '" + (dir / "report.html").string() + "'").code, 0);
  auto log = screenshot(dir / "report.html", dir / "report.png", dir / "profile");
  EXPECT_EQ(log.find(":CONSOLE"), std::string::npos) << log;
  EXPECT_EQ(png_size(read_text(dir / "report.png")), std::make_pair(1100u, 1400u));

  // The check can fail: a page breaking its CSP is logged.
  write_text(dir / "broken.html", "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                                  "content=\"default-src 'none'\"></head><body><script>1</script></body></html>");
  EXPECT_NE(screenshot(dir / "broken.html", dir / "broken.png", dir / "profile").find(":CONSOLE"), std::string::npos);

  // The status chart by itself, against an empty drawing of the same size.
  auto html = read_text(dir / "report.html");
  auto head_end = html.find("</style></head>") + std::string("</style></head>").size();
  auto start = html.find("<svg class=\"chart\"");
  auto end = html.find("</svg>", start) + 6;
  ASSERT_NE(start, std::string::npos);
  write_text(dir / "chart.html", html.substr(0, head_end) + "<body>" + html.substr(start, end - start) + "</body></html>");
  write_text(dir / "blank.html", html.substr(0, head_end) + "<body><svg width=\"640\" height=\"216\"></svg></body></html>");
  EXPECT_EQ(screenshot(dir / "chart.html", dir / "chart.png", dir / "profile", "700,260").find(":CONSOLE"), std::string::npos);
  screenshot(dir / "blank.html", dir / "blank.png", dir / "profile", "700,260");
  auto chart_bytes = read_text(dir / "chart.png").size(), blank_bytes = read_text(dir / "blank.png").size();
  EXPECT_GT(chart_bytes, 4 * blank_bytes) << "chart " << chart_bytes << " bytes, blank " << blank_bytes << " bytes";
}

}  // namespace
}  // namespace flotilla
