// Writes seed corpora for the fuzz targets: valid bundles (plain and zstd)
// signed with the fuzz key, their envelope, the root and a manifest.
//   fuzz_seeds OUT_DIR
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "artifacts/writer.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {
void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds OUT_DIR\n";
    return 2;
  }
  fs::path out = argv[1];
  write(out / "root" / "root.json", fuzz::fuzz_root_json());

  write(out / "work" / "rootfs.img", std::string(3000, 'r'));
  write(out / "work" / "wifi.ko", "driver");
  artifacts::Manifest m;
  m.name = "gw-os";
  m.component = "rootfs";
  m.version = *common::Version::parse("2.4.0");
  m.security_version = 2;
  m.compatible = {"gw-x1"};
  m.requires_.push_back({"rootfs", *common::VersionRange::parse(">=2.0.0 <3.0.0")});
  m.created = *common::parse_rfc3339("2026-11-24T19:00:00Z");
  artifacts::Payload raw{.name = "rootfs.img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
  artifacts::Payload file{.name = "wifi.ko", .type = artifacts::PayloadType::kFile, .path = "/lib/wifi.ko"};
  for (auto [name, compression] : {std::pair{"plain.flb", artifacts::Compression::kNone},
                                   std::pair{"zstd.flb", artifacts::Compression::kZstd}}) {
    artifacts::BundleSpec spec{m, {{raw, out / "work" / "rootfs.img"}, {file, out / "work" / "wifi.ko"}}, compression};
    fs::create_directories(out / "bundle");
    auto written = artifacts::write_bundle(spec, {&fuzz::fuzz_key()}, out / "bundle" / name);
    if (!written) {
      std::cerr << written.error().describe() << "\n";
      return 1;
    }
    if (compression == artifacts::Compression::kNone) {
      write(out / "manifest" / "manifest.json", artifacts::serialize_manifest(written->manifest));
      auto envelope = signing::sign_envelope(signing::kManifestType,
                                             common::as_bytes(artifacts::serialize_manifest(written->manifest)),
                                             {&fuzz::fuzz_key()});
      write(out / "dsse" / "manifest.dsse.json", signing::serialize_envelope(*envelope));
    }
  }
  // Server requests: route byte, then body / path / query.
  std::vector<std::pair<std::string, std::string>> requests = {
      {"token", std::string(1, '\0') + R"({"name": "ci", "role": "publisher", "expires_at": "2099-01-01T00:00:00Z"})"},
      {"enroll", std::string(1, '\1') + R"({"name": "f", "device_types": ["gw-x1"], "max_uses": 3, "expires_at": "2099-01-01T00:00:00Z"})"},
      {"labels", std::string(1, '\2') + R"({"labels": {"region": "eu"}})"},
      {"deploy", std::string(1, '\3') + R"({"bundle": "x", "devices": ["a", "b"], "deadline": "2099-01-01T00:00:00Z"})"},
      {"trust", std::string(1, '\4') + fuzz::fuzz_root_json()},
      {"auth", std::string(1, '\5') + R"({"device_type": "gw-x1", "identity": {"serial": "S"}, "public_key": "x", "timestamp": "2026-01-01T00:00:00Z", "nonce": "0123456789abcdef"})"},
      {"path", std::string(1, '\7') + "api/v1/bundles/0000/file"},
      {"query", std::string(1, '\11') + "type=gw-x1&label=region=eu&limit=5&seen_before=2026-01-01T00:00:00Z"},
      {"dry-run", std::string(1, '\13') + R"({"name": "p", "bundle": {"name": "b", "version": "1.0.0"}, "target": {"device_types": ["t"]}, "waves": [{"name": "all", "size": "100%"}], "schedule": {"windows": [{"days": ["sat"], "start": "01:00", "duration": "4h", "tz": "Europe/Berlin"}]}})"},
      {"approve", std::string(1, '\15') + R"({"wave": "canary"})"},
      {"abort", std::string(1, '\16') + R"({"rollback": true})"},
      {"compliance", std::string(1, '\17') + "format=csv&type=gw-x1&label=site=a&status=outdated"},
      {"compliance-html", std::string(1, '\17') + "format=html&rollout=1"},
      {"compliance-summary", std::string(1, '\20') + "baseline=q"},
      // Regressions: what longer runs found (invalid UTF-8 in a report
      // filter threw from the JSON writer and left an export file behind).
      {"regress-compliance-type", std::string(1, '\17') + "type=\xFF"},
      {"regress-compliance-label", std::string(1, '\17') + "label=site=\xC0\x80"},
      {"regress-compliance-html-type", std::string(1, '\17') + "format=html&type=\xED\xA0\x80"},
      {"regress-compliance-signed-label", std::string(1, '\17') + "format=signed&label=\xFF=x"},
      {"compliance-signed", std::string(1, '\17') + "format=signed&label=site=a"},
      {"regress-summary-type", std::string(1, '\20') + "type=ok\xE2\x82"},
      {"regress-devices-type", std::string(1, '\11') + "type=\xFF"},
      {"regress-path", std::string(1, '\7') + "api/v1/devices/\xFF"},
  };
  // DDI: the route index is the one in fuzz_server_request.cpp's table.
  const std::string swupdate_feedback =
      R"({ "id": 1, "time": "20261207T164610", "status": { "result": { "progress": { "cnt" : 1, "of" : 1 }, "finished": "none" }, "execution": "proceeding", "details" : [ "Installed Chunk.	ok" ] } })";
  const std::string config_data = R"({"mode": "merge", "data": {"hw": "rev2", "serial": "S-1"}, "status": {"execution": "closed", "result": {"finished": "success"}}})";
  requests.push_back({"ddi-feedback", std::string(1, '') + swupdate_feedback});
  requests.push_back({"ddi-config", std::string(1, '') + config_data});
  requests.push_back({"ddi-base", std::string(1, '') + "default/controller/v1/fuzz"});
  requests.push_back({"ddi-artifact", std::string(1, '') + "default/controller/v1/fuzz/softwaremodules/1/artifacts/app.swu"});
  // Field gateways: a child's inventory, event, and the gateway's poll.
  requests.push_back({"child-inventory", std::string(1, '\25') +
      R"({"child_id": "m-1", "device_type": "mcu-a", "identity": {"serial": "m-1"}, "counter": 1, "timestamp": "2026-01-01T00:00:00Z", "components": {"firmware": {"version": "1.0.0", "security_version": 1}}, "health": {"adapter": "sim"}})"});
  requests.push_back({"child-event", std::string(1, '\26') + R"({"seq": 1, "state": "installing", "progress": 40, "message": "flashing", "time": "2026-01-01T00:00:00Z"})"});
  requests.push_back({"gateway-poll", std::string(1, '\27') + R"({"inventory_digest": "", "counter": 1})"});
  for (const auto& [name, bytes] : requests) write(out / "server" / name, bytes);
  write(out / "adapter_output" / "list", std::string(1, '\0') + R"({"children": [{"id": "m-1", "device_type": "mcu-a", "identity": {"serial": "S1"}}]})");
  write(out / "adapter_output" / "versions", std::string(1, '\1') + R"({"components": {"firmware": {"version": "1.1.0", "security_version": 2}}})");
  write(out / "ddi" / "feedback", std::string(1, '\0') + swupdate_feedback);
  write(out / "ddi" / "closed", std::string(1, '\0') + R"({"id": "7", "status": {"execution": "closed", "result": {"finished": "failure"}, "details": ["hash mismatch"]}})");
  write(out / "ddi" / "config", std::string(1, '\1') + config_data);
  write(out / "ddi" / "remove", std::string(1, '\1') + R"({"mode": "remove", "data": {"hw": ""}})");
  // Policies: the shipped examples are read as a second corpus directory.
  write(out / "policy" / "minimal.json",
        R"({"name": "p", "bundle": {"name": "b", "version": "1.0.0"}, "target": {"device_types": ["t"]}, "waves": [{"name": "all", "size": "100%"}]})");
  write(out / "fleet" / "fleet.json",
        R"([{"id": "a", "type": "gw-x1", "labels": {"region": "eu"}, "versions": {"rootfs": "2.3.0"}}, {"id": "b", "type": "gw-x2", "tampered": true}])");
  // A compliance report payload whose counts add up (the key id is the
  // one the report target assumes).
  write(out / "report" / "report.json",
        R"({"report":"flotilla-compliance","report_version":1,"generated_at":"2026-11-25T00:00:00Z","baseline":{"name":"q"},"filters":{},"report_key_id":"fuzz-key","rows":[)"
        R"({"device_id":"d1","device_type":"gw-x1","labels":{"site":"a"},"component":"rootfs","status":"outdated","device_status":"outdated","reason":"runs 2.3.0, needs 2.4.0","installed_version":"2.3.0","installed_security_version":6,"required_version":"2.4.0","required_security_version":null,"deadline":null,"last_seen":"2026-11-25T00:00:00Z","last_update_result":null,"last_update_at":null,"last_update_deployment":null,"report_counter":1,"report_digest":"0000000000000000000000000000000000000000000000000000000000000000","report_at":null})"
        R"(],"summary":{"devices":1,"rows":1,"by_status":{"outdated":1,"compliant":0},"by_device_type":{"gw-x1":{"outdated":1}}},"audit_head":{"seq":3,"hash":"1111111111111111111111111111111111111111111111111111111111111111"}})");
  // A real zone from tzdata when the machine has one, else a minimal TZif.
  write(out / "agent_config" / "minimal.json",
        R"({"device": {"type": "gw-x1"}, "state_dir": "/s", "trust_root": "/r", "slots": {"verify_after_write": true, "rootfs": {"a": "/a", "b": "/b", "kind": "file"}}, "bootloader": {"type": "file", "path": "/e"}, "health_checks": [{"command": ["true"], "timeout": "5s"}]})");
  fs::create_directories(out / "tzif");
  if (auto berlin = fs::path("/usr/share/zoneinfo/Europe/Berlin"); fs::exists(berlin)) {
    fs::copy_file(berlin, out / "tzif" / "berlin", fs::copy_options::overwrite_existing);
  }
  fs::remove_all(out / "work");
  return 0;
}
