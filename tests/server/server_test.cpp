// flotilla-server started for real on loopback: authentication and roles,
// input validation, bundle upload and download, the audit chain, crashes.
#include <gtest/gtest.h>

#include "cli/api_client.hpp"
#include "signing/digest.hpp"
#include <set>
#include <thread>
#include "tests/support/fixtures.hpp"
#include "tests/server/database_access.hpp"
#include "tests/support/server_fixture.hpp"

namespace flotilla {
namespace {

using cli::ApiClient;
using testing::read_text;
using testing::run_shell;
using testing::ServerProcess;
using testing::TempDir;
using testing::write_text;

class ServerTest : public testing::RunningServer {
 protected:
  ApiClient client(std::optional<std::string> token) { return ApiClient(server->url(), std::move(token)); }
  ApiClient admin() { return client(server->admin_token()); }

  // A token of `role`, made by the admin.
  std::string token_for(const std::string& role) {
    auto response = admin().request("POST", "/api/v1/tokens", common::Json{{"name", role + "-t"}, {"role", role}}.dump());
    EXPECT_TRUE(response && response->status == 201) << (response ? response->body : response.error().describe());
    return response->json()["token"];
  }

  // A signed bundle file of about `size` bytes.
  std::filesystem::path make_bundle(const std::string& name, std::size_t size = 300000, const std::string& version = "2.4.0") {
    write_text(dir / (name + ".img"), std::string(size, static_cast<char>('a' + name.size() % 26)));
    auto manifest = testing::sample_manifest();
    manifest.name = name;
    manifest.version = *common::Version::parse(version);
    artifacts::Payload raw{.name = name + ".img", .type = artifacts::PayloadType::kRawImage, .slot = "rootfs"};
    artifacts::BundleSpec spec{manifest, {{raw, dir / (name + ".img")}}};
    auto out = dir / (name + "-" + version + ".flb");
    auto written = artifacts::write_bundle(spec, {&trust.release_key}, out);
    EXPECT_TRUE(written) << written.error().describe();
    return out;
  }

  std::string curl(const std::string& args) {
    return "curl -sS --max-time 30 -H 'Authorization: Bearer " + server->admin_token() + "' " + args;
  }
};

TEST_F(ServerTest, HealthUnknownRoutesAndMethods) {
  auto health = client(std::nullopt).request("GET", "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->json()["status"], "ok");
  auto missing = admin().request("GET", "/api/v1/nothing");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->content_type, "application/problem+json");
  EXPECT_EQ(admin().request("PATCH", "/api/v1/bundles")->status, 405);
}

// Operator tokens do not open device routes, and device routes need a
// device token.
TEST_F(ServerTest, DeviceRoutesNeedDeviceTokens) {
  for (const char* path : {"/api/v1/device/poll", "/api/v1/device/inventory"}) {
    EXPECT_EQ(admin().request(std::string(path).ends_with("poll") ? "POST" : "PUT", path, "{}")->status, 401) << path;
    EXPECT_EQ(client(std::nullopt).request("POST", path, "{}")->status,
              std::string(path).ends_with("poll") ? 401 : 405) << path;
  }
  EXPECT_EQ(admin().request("GET", "/api/v1/device/bundles/" + std::string(64, 'a'))->status, 401);
}

// Every route × every role and no token. Expected from docs/api.md's table,
// not from the code's own table.
TEST_F(ServerTest, AuthorizationMatrix) {
  std::map<std::string, std::string> tokens = {{"admin", server->admin_token()},
                                               {"operator", token_for("operator")},
                                               {"publisher", token_for("publisher")},
                                               {"auditor", token_for("auditor")}};
  struct Case {
    std::string method, path;
    std::set<std::string> allowed;
  };
  std::string missing_bundle = "/api/v1/bundles/" + std::string(64, '0');
  std::vector<Case> cases = {
      {"GET", "/api/v1/tokens", {"admin"}},
      {"POST", "/api/v1/tokens", {"admin"}},
      {"DELETE", "/api/v1/tokens/999", {"admin"}},
      {"POST", "/api/v1/bundles", {"admin", "operator", "publisher"}},
      {"GET", "/api/v1/bundles", {"admin", "operator", "auditor"}},
      {"GET", missing_bundle, {"admin", "operator", "auditor"}},
      {"DELETE", missing_bundle, {"admin", "operator"}},
      {"GET", missing_bundle + "/file", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/audit", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/audit/verify", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/audit/export", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/trust", {"admin", "operator", "publisher", "auditor"}},
      {"PUT", "/api/v1/trust", {"admin"}},
      {"POST", "/api/v1/enrollment-tokens", {"admin", "operator"}},
      {"GET", "/api/v1/enrollment-tokens", {"admin", "operator"}},
      {"DELETE", "/api/v1/enrollment-tokens/999", {"admin", "operator"}},
      {"GET", "/api/v1/devices", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/devices/x", {"admin", "operator", "auditor"}},
      {"POST", "/api/v1/devices/x/accept", {"admin", "operator"}},
      {"POST", "/api/v1/devices/x/reject", {"admin", "operator"}},
      {"POST", "/api/v1/devices/x/decommission", {"admin", "operator"}},
      {"PUT", "/api/v1/devices/x/labels", {"admin", "operator"}},
      {"POST", "/api/v1/deployments", {"admin", "operator"}},
      {"GET", "/api/v1/deployments", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/deployments/1", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/devices/x/inventory", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/compliance", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/compliance/summary", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/trust/report-key", {"admin", "operator", "publisher", "auditor"}},
      {"GET", "/api/v1/me", {"admin", "operator", "publisher", "auditor"}},
      {"GET", "/api/v1/devices/summary", {"admin", "operator", "auditor"}},
      {"GET", "/api/v1/audit/head", {"admin", "operator", "auditor"}},
  };
  for (const auto& c : cases) {
    std::string body = (c.method == "POST" || c.method == "PUT") && !c.path.ends_with("/accept") &&
                               !c.path.ends_with("/reject") && !c.path.ends_with("/decommission")
                           ? "{}"
                           : "";
    auto anonymous = client(std::nullopt).request(c.method, c.path, body);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401) << c.method << " " << c.path;
    auto bogus = client("flt_" + std::string(64, 'f')).request(c.method, c.path);
    EXPECT_EQ(bogus->status, 401) << c.method << " " << c.path;
    for (const auto& [role, token] : tokens) {
      auto response = client(token).request(c.method, c.path, body);
      ASSERT_TRUE(response);
      if (c.allowed.contains(role)) {
        EXPECT_NE(response->status, 401) << role << " " << c.method << " " << c.path;
        EXPECT_NE(response->status, 403) << role << " " << c.method << " " << c.path;
      } else {
        EXPECT_EQ(response->status, 403) << role << " " << c.method << " " << c.path;
      }
    }
  }
}

// A client (the dashboard) learns what its token may do; the answer is the
// same table the server enforces.
TEST_F(ServerTest, MeNamesTheTokenAndItsPermissions) {
  auto created = admin().request("POST", "/api/v1/tokens", R"({"name": "watcher", "role": "auditor"})");
  ASSERT_EQ(created->status, 201);
  auto me = client(created->json()["token"].get<std::string>()).request("GET", "/api/v1/me");
  ASSERT_EQ(me->status, 200) << me->body;
  auto j = me->json();
  EXPECT_EQ(j["role"], "auditor");
  EXPECT_EQ(j["token"]["name"], "watcher");
  EXPECT_FALSE(j["token"].contains("token")) << "the secret is never shown again";
  std::set<std::string> permissions(j["permissions"].begin(), j["permissions"].end());
  EXPECT_EQ(permissions, (std::set<std::string>{"read_audit", "read_bundles", "read_deployments", "read_devices", "read_trust"}));
  auto everything = admin().request("GET", "/api/v1/me")->json()["permissions"];
  EXPECT_EQ(everything.size(), 11u);
}

TEST_F(ServerTest, AuditHeadIsTheLastEntry) {
  auto head = admin().request("GET", "/api/v1/audit/head")->json();
  auto verified = admin().request("GET", "/api/v1/audit/verify")->json();
  EXPECT_EQ(head["seq"], verified["head"]["seq"]);
  EXPECT_EQ(head["hash"], verified["head"]["hash"]);
  ASSERT_EQ(admin().request("POST", "/api/v1/tokens", R"({"name": "one-more", "role": "auditor"})")->status, 201);
  EXPECT_EQ(admin().request("GET", "/api/v1/audit/head")->json()["seq"], head["seq"].get<int>() + 1);
}

TEST_F(ServerTest, TokensCreateListRevoke) {
  auto created = admin().request("POST", "/api/v1/tokens", R"({"name": "ci", "role": "publisher"})");
  ASSERT_EQ(created->status, 201);
  std::string secret = created->json()["token"];
  EXPECT_TRUE(secret.starts_with("flt_"));
  EXPECT_EQ(client(secret).request("GET", "/api/v1/trust")->status, 200);
  auto list = admin().request("GET", "/api/v1/tokens");
  EXPECT_EQ(list->body.find(secret), std::string::npos);  // never shown again
  auto id = std::to_string(created->json()["id"].get<int>());
  EXPECT_EQ(admin().request("DELETE", "/api/v1/tokens/" + id)->status, 200);
  EXPECT_EQ(client(secret).request("GET", "/api/v1/trust")->status, 401);
  EXPECT_EQ(admin().request("DELETE", "/api/v1/tokens/" + id)->status, 404);
  EXPECT_EQ(admin().request("DELETE", "/api/v1/tokens/abc")->status, 400);
}

// Rotation: a new secret at once, the old one until its grace ends, then
// refused; every step in the audit log, the new token linked to the old.
TEST_F(ServerTest, ARotatedTokensOldSecretWorksForItsGraceThenNot) {
  auto created = admin().request("POST", "/api/v1/tokens", R"({"name": "ci", "role": "publisher"})");
  ASSERT_EQ(created->status, 201);
  std::string old_secret = created->json()["token"];
  auto id = std::to_string(created->json()["id"].get<int>());
  auto rotated = admin().request("POST", "/api/v1/tokens/" + id + "/rotate", R"({"grace_seconds": 4})");
  ASSERT_EQ(rotated->status, 201) << rotated->body;
  auto answer = rotated->json();
  std::string new_secret = answer["token"];
  EXPECT_NE(new_secret, old_secret);
  EXPECT_EQ(answer["name"], "ci");
  EXPECT_EQ(answer["role"], "publisher");
  EXPECT_EQ(answer["previous"]["id"].get<int>(), std::stoi(id));
  EXPECT_EQ(client(new_secret).request("GET", "/api/v1/trust")->status, 200);
  EXPECT_EQ(client(old_secret).request("GET", "/api/v1/trust")->status, 200) << "the old secret works in its grace";
  // The listing shows when the old one ends.
  auto list = admin().request("GET", "/api/v1/tokens")->json()["tokens"];
  auto old_row = std::find_if(list.begin(), list.end(), [&](const auto& t) { return std::to_string(t["id"].template get<int>()) == id; });
  ASSERT_NE(old_row, list.end());
  EXPECT_EQ((*old_row)["expires_at"], answer["previous"]["valid_until"]);
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  auto refused = client(old_secret).request("GET", "/api/v1/trust");
  EXPECT_EQ(refused->status, 401);
  EXPECT_NE(refused->body.find("expired"), std::string::npos) << refused->body;
  EXPECT_EQ(client(new_secret).request("GET", "/api/v1/trust")->status, 200);
  // An expired or revoked token cannot be rotated back to life; bad fields are named.
  EXPECT_EQ(admin().request("POST", "/api/v1/tokens/" + id + "/rotate", "")->status, 404);
  auto too_long = admin().request("POST", "/api/v1/tokens/" + std::to_string(answer["id"].get<int>()) + "/rotate",
                                  R"({"grace_seconds": 99999999})");
  EXPECT_EQ(too_long->status, 400);
  EXPECT_EQ(too_long->json()["errors"][0]["path"], "/grace_seconds") << too_long->body;
  auto audit = admin().request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  auto rotation = std::find_if(audit.begin(), audit.end(), [](const auto& e) { return e["action"] == "token.rotate"; });
  ASSERT_NE(rotation, audit.end());
  EXPECT_EQ((*rotation)["object"], "token:" + id);
  EXPECT_EQ((*rotation)["details"]["to"], answer["id"]);
  EXPECT_EQ((*rotation)["details"]["old_valid_until"], answer["previous"]["valid_until"]);
}

// Credentials that change often: a token made or rotated without an expiry
// gets the server's lifetime (90 days unless configured); null asks for
// one that never expires; zero days turns the default off.
TEST_F(ServerTest, OperatorTokensGetTheServersLifetimeUnlessToldOtherwise) {
  auto days_left = [](const common::Json& token) {
    auto when = common::parse_rfc3339(token["expires_at"].get<std::string>());
    EXPECT_TRUE(when);
    return std::chrono::duration<double>(*when - common::now_utc()).count() / 86400;
  };
  auto made = admin().request("POST", "/api/v1/tokens", R"({"name": "ops", "role": "operator"})");
  ASSERT_EQ(made->status, 201) << made->body;
  ASSERT_TRUE(made->json()["expires_at"].is_string()) << made->body;
  EXPECT_NEAR(days_left(made->json()), 90, 0.01);
  auto forever = admin().request("POST", "/api/v1/tokens", R"({"name": "kiosk", "role": "auditor", "expires_at": null})");
  ASSERT_EQ(forever->status, 201) << forever->body;
  EXPECT_TRUE(forever->json()["expires_at"].is_null()) << forever->body;
  auto rotated = admin().request("POST", "/api/v1/tokens/" + std::to_string(forever->json()["id"].get<int>()) + "/rotate", "");
  ASSERT_EQ(rotated->status, 201) << rotated->body;
  EXPECT_NEAR(days_left(rotated->json()), 90, 0.01) << "a rotated secret gets the lifetime too";
  auto bad = admin().request("POST", "/api/v1/tokens", R"({"name": "x", "role": "operator", "expires_at": 42})");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->json()["errors"][0]["path"], "/expires_at") << bad->body;

  server->stop();
  server->start({"--token-lifetime-days", "0"});
  auto unlimited = admin().request("POST", "/api/v1/tokens", R"({"name": "ops2", "role": "operator"})");
  ASSERT_EQ(unlimited->status, 201) << unlimited->body;
  EXPECT_TRUE(unlimited->json()["expires_at"].is_null()) << unlimited->body;
  server->stop();
  server->start({"--token-lifetime-days", "7"});
  auto weekly = admin().request("POST", "/api/v1/tokens", R"({"name": "ops3", "role": "operator"})");
  ASSERT_EQ(weekly->status, 201) << weekly->body;
  EXPECT_NEAR(days_left(weekly->json()), 7, 0.01);
}

TEST_F(ServerTest, BadBodiesAreRefusedByFieldWithoutEchoingInput) {
  auto api = admin();
  auto not_json = api.request("POST", "/api/v1/tokens", "<script>alert(1)</script>");
  EXPECT_EQ(not_json->status, 400);
  EXPECT_EQ(not_json->content_type, "application/problem+json");
  EXPECT_EQ(not_json->body.find("<script>"), std::string::npos);
  auto unknown = api.request("POST", "/api/v1/tokens", R"({"name": "x", "role": "admin", "rol": "y"})");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(unknown->json()["errors"][0]["path"], "/rol");
  auto bad_role = api.request("POST", "/api/v1/tokens", R"({"name": "x", "role": "root"})");
  EXPECT_EQ(bad_role->json()["errors"][0]["path"], "/role");
  auto duplicate = api.request("POST", "/api/v1/tokens", R"({"name": "x", "role": "admin", "role": "auditor"})");
  EXPECT_EQ(duplicate->status, 400);
  auto deep = api.request("POST", "/api/v1/tokens", std::string(5000, '[') + std::string(5000, ']'));
  EXPECT_EQ(deep->status, 400);
  auto huge = api.request("POST", "/api/v1/tokens", "{\"name\": \"" + std::string(2 << 20, 'x') + "\"}");
  EXPECT_EQ(huge->status, 413);
  auto bad_query = api.request("GET", "/api/v1/audit?limit=-5");
  EXPECT_EQ(bad_query->status, 400);
  // Nothing of the above changed anything.
  auto tokens = api.request("GET", "/api/v1/tokens");
  EXPECT_EQ(tokens->json()["tokens"].size(), 1u);
}

// Every route that takes a body: garbage is 400 (or 422 for documents
// that are verified rather than parsed), over the limit is 413, and
// nothing changes.
TEST_F(ServerTest, MalformedAndOversizedBodiesOnEveryRoute) {
  auto api = admin();
  auto audit_before = api.request("GET", "/api/v1/audit?limit=1000")->json()["entries"].size();
  struct Case {
    std::string method, path;
    int malformed;
    bool limited;
  };
  const std::vector<Case> cases = {{"POST", "/api/v1/tokens", 400, true},
                                   {"POST", "/api/v1/enrollment-tokens", 400, true},
                                   {"PUT", "/api/v1/devices/x/labels", 400, true},
                                   {"POST", "/api/v1/deployments", 400, true},
                                   {"PUT", "/api/v1/trust", 422, true},
                                   {"POST", "/api/v1/bundles", 422, false},
                                   {"POST", "/api/v1/device/auth", 400, true}};
  for (const auto& c : cases) {
    for (const std::string garbage : {"{", "[1, 2", "{\"a\": 1, \"a\": 2}", "null", "\"\xff\""}) {
      auto response = api.request(c.method, c.path, garbage);
      ASSERT_TRUE(response);
      EXPECT_EQ(response->status, c.malformed) << c.method << " " << c.path << " " << garbage << ": " << response->body;
      EXPECT_EQ(response->content_type, "application/problem+json") << c.path;
    }
    if (c.limited) {
      EXPECT_EQ(api.request(c.method, c.path, std::string((1 << 20) + 1, ' '))->status, 413) << c.path;
    }
  }
  // Refused bundle uploads are audited (as refused); nothing else was written.
  auto audit_after = api.request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  for (std::size_t i = audit_before; i < audit_after.size(); ++i) {
    EXPECT_EQ(audit_after[i]["outcome"], "refused") << audit_after[i].dump();
  }
  EXPECT_EQ(api.request("GET", "/api/v1/tokens")->json()["tokens"].size(), 1u);
  EXPECT_TRUE(api.request("GET", "/api/v1/enrollment-tokens")->json()["enrollment_tokens"].empty());
}

TEST_F(ServerTest, BundleUploadVerifiesDedupesListsAndDeletes) {
  auto bundle = make_bundle("gw-os");
  auto api = admin();
  auto first = api.upload("/api/v1/bundles", bundle);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 201) << first->body;
  auto j = first->json();
  EXPECT_EQ(j["name"], "gw-os");
  EXPECT_EQ(j["file_sha256"], signing::sha256_hex(read_text(bundle)));
  EXPECT_EQ(j["signer_keyids"][0], trust.release_key.key_id());
  EXPECT_EQ(api.upload("/api/v1/bundles", bundle)->status, 200);  // same digest: deduplicated

  auto tampered_bytes = read_text(bundle);
  tampered_bytes[tampered_bytes.size() / 2] ^= 1;
  write_text(dir / "tampered.flb", tampered_bytes);
  auto tampered = api.upload("/api/v1/bundles", dir / "tampered.flb");
  EXPECT_EQ(tampered->status, 422);
  EXPECT_NE(tampered->json()["detail"].get<std::string>().find("SHA-256"), std::string::npos) << tampered->body;
  write_text(dir / "junk.flb", std::string(10000, 'j'));
  EXPECT_EQ(api.upload("/api/v1/bundles", dir / "junk.flb")->status, 422);

  auto list = api.request("GET", "/api/v1/bundles")->json()["bundles"];
  ASSERT_EQ(list.size(), 1u);
  std::string digest = list[0]["file_sha256"];
  EXPECT_EQ(api.request("GET", "/api/v1/bundles/" + digest)->json()["manifest"]["component"], "rootfs");
  EXPECT_EQ(api.request("GET", "/api/v1/bundles/" + std::string(j["bundle_id"]))->status, 200);
  EXPECT_EQ(api.request("DELETE", "/api/v1/bundles/" + digest)->status, 200);
  EXPECT_EQ(api.request("GET", "/api/v1/bundles/" + digest)->status, 404);
  EXPECT_FALSE(std::filesystem::exists(server->data() / "bundles" / (digest + ".flb")));
  // The refused uploads are in the audit log too.
  auto audit = api.request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  int refused = 0;
  for (const auto& e : audit) refused += e["action"] == "bundle.upload" && e["outcome"] == "refused";
  EXPECT_EQ(refused, 2);
}

TEST_F(ServerTest, UploadWithoutTrustRootIsRefused) {
  TempDir other;
  ServerProcess bare(FLOTILLA_SERVER, other / "data");
  bare.start();
  ApiClient api(bare.url(), bare.admin_token());
  auto response = api.upload("/api/v1/bundles", make_bundle("x"));
  EXPECT_EQ(response->status, 409);
  EXPECT_EQ(api.request("PUT", "/api/v1/trust", "{\"not\": \"a root\"}")->status, 422);
  EXPECT_EQ(api.request("PUT", "/api/v1/trust", trust.root_json)->status, 200);
  EXPECT_EQ(api.upload("/api/v1/bundles", make_bundle("x"))->status, 201);
  EXPECT_EQ(bare.stop(), 0);
}

// Many downloads at once from the file bodies: each file stream is closed
// before it is released (cpprestsdk issue #111 deadlocked every pool
// thread when a fleet downloaded together). Bounded: 3 rounds of 48.
TEST_F(ServerTest, ManyConcurrentDownloadsFinish) {
  auto bundle = make_bundle("crowd", 300000);
  auto uploaded = admin().upload("/api/v1/bundles", bundle);
  ASSERT_EQ(uploaded->status, 201);
  std::string url = server->url() + "/api/v1/bundles/" + uploaded->json()["file_sha256"].get<std::string>() + "/file";
  auto size = std::filesystem::file_size(bundle);
  for (int round = 0; round < 3; ++round) {
    std::string command = "failed=0; pids=; ";
    for (int i = 0; i < 48; ++i) {
      command += curl("-s -o '" + (dir / ("d" + std::to_string(i))).string() + "' '" + url + "'") + " & pids=\"$pids $!\"; ";
    }
    command += "for p in $pids; do wait $p || failed=1; done; exit $failed";
    ASSERT_EQ(run_shell(command, 60), 0) << "downloads failed in round " << round << "; the server's log:\n" << server->log();
    for (int i = 0; i < 48; ++i) EXPECT_EQ(std::filesystem::file_size(dir / ("d" + std::to_string(i))), size);
  }
  EXPECT_EQ(admin().request("GET", "/healthz")->status, 200);
}

TEST_F(ServerTest, RangeRequestsByteForByte) {
  auto bundle = make_bundle("ranged", 200000);
  auto uploaded = admin().upload("/api/v1/bundles", bundle);
  ASSERT_EQ(uploaded->status, 201);
  std::string digest = uploaded->json()["file_sha256"];
  std::string url = server->url() + "/api/v1/bundles/" + digest + "/file";
  std::string whole = read_text(bundle);
  auto fetch = [&](const std::string& extra, const std::string& name) {
    auto out = dir / name;
    int rc = run_shell(curl("-o '" + out.string() + "' -D '" + out.string() + ".h' " + extra + " '" + url + "'"));
    EXPECT_EQ(rc, 0);
    return std::pair{read_text(out), read_text(out.string() + ".h")};
  };
  auto [full, full_headers] = fetch("", "full");
  EXPECT_EQ(full, whole);
  EXPECT_NE(full_headers.find("Accept-Ranges: bytes"), std::string::npos);

  auto [middle, middle_headers] = fetch("-H 'Range: bytes=1000-1999'", "middle");
  EXPECT_NE(middle_headers.find("206"), std::string::npos);
  EXPECT_EQ(middle, whole.substr(1000, 1000));
  EXPECT_NE(middle_headers.find("Content-Range: bytes 1000-1999/" + std::to_string(whole.size())), std::string::npos);

  auto [resume, resume_headers] = fetch("-H 'Range: bytes=" + std::to_string(whole.size() / 2) + "-'", "resume");
  EXPECT_EQ(resume, whole.substr(whole.size() / 2));

  auto [last, last_headers] = fetch("-H 'Range: bytes=-1'", "last");
  EXPECT_EQ(last, whole.substr(whole.size() - 1));

  auto [beyond, beyond_headers] = fetch("-H 'Range: bytes=" + std::to_string(whole.size()) + "-'", "beyond");
  EXPECT_NE(beyond_headers.find("416"), std::string::npos);
  EXPECT_NE(beyond_headers.find("Content-Range: bytes */" + std::to_string(whole.size())), std::string::npos);

  auto [stale, stale_headers] = fetch("-H 'Range: bytes=0-9' -H 'If-Range: \"other\"'", "stale");
  EXPECT_NE(stale_headers.find("200"), std::string::npos);
  EXPECT_EQ(stale, whole);
  auto [fresh, fresh_headers] = fetch("-H 'Range: bytes=0-9' -H 'If-Range: \"" + digest + "\"'", "fresh");
  EXPECT_EQ(fresh, whole.substr(0, 10));

  auto [head, head_headers] = fetch("-I", "head");
  EXPECT_NE(head_headers.find("Content-Length: " + std::to_string(whole.size())), std::string::npos);
}

TEST_F(ServerTest, SigkillDuringUploadLeavesNoHalfBundle) {
  auto bundle = make_bundle("big", 30 << 20);
  // A slow upload (4 MiB/s) that the server is killed in the middle of.
  std::string command = curl("--limit-rate 4M --data-binary '@" + bundle.string() + "' '" + server->url() +
                             "/api/v1/bundles' > /dev/null 2>&1 &");
  ASSERT_EQ(run_shell(command), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  server->kill9();
  server->start();
  auto api = admin();
  EXPECT_TRUE(api.request("GET", "/api/v1/bundles")->json()["bundles"].empty());
  EXPECT_TRUE(std::filesystem::is_empty(server->data() / "bundles"));
  EXPECT_TRUE(std::filesystem::is_empty(server->data() / "uploads"));
  EXPECT_TRUE(api.request("GET", "/api/v1/audit/verify")->json()["valid"].get<bool>());
  // And the server works after the crash.
  EXPECT_EQ(api.upload("/api/v1/bundles", make_bundle("after"))->status, 201);
}

TEST_F(ServerTest, AuditChainCatchesAnEditedRow) {
  ASSERT_EQ(admin().upload("/api/v1/bundles", make_bundle("audited"))->status, 201);
  ASSERT_EQ(token_for("auditor").size(), 68u);
  EXPECT_TRUE(admin().request("GET", "/api/v1/audit/verify")->json()["valid"].get<bool>());
  EXPECT_EQ(server->stop(), 0);
  {
    // An attacker with the database: the triggers refuse, so drop them.
    auto db = testing::open_database_of(*server);
    ASSERT_TRUE(db);
    EXPECT_FALSE(db->exec("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3"));
    ASSERT_TRUE(testing::drop_audit_update_guard(*db));
    ASSERT_TRUE(db->exec("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3"));
  }
  server->start();
  auto verdict = admin().request("GET", "/api/v1/audit/verify")->json();
  EXPECT_FALSE(verdict["valid"].get<bool>());
  EXPECT_NE(verdict["error"].get<std::string>().find("line 3"), std::string::npos) << verdict.dump();
  std::string cli = std::string(FLOTILLA_CLI) + " --server " + server->url() + " --token-file '" +
                    (server->data() / "admin.token").string() + "' audit verify > /dev/null 2>&1";
  EXPECT_EQ(run_shell(cli), 1);
}

TEST_F(ServerTest, MetricsInPrometheusTextFormat) {
  ASSERT_EQ(admin().upload("/api/v1/bundles", make_bundle("metered"))->status, 201);
  auto digest = admin().request("GET", "/api/v1/bundles")->json()["bundles"][0]["file_sha256"].get<std::string>();
  ASSERT_EQ(admin().request("GET", "/api/v1/bundles/" + digest + "/file")->status, 200);
  EXPECT_EQ(client(std::nullopt).request("GET", "/metrics")->status, 401);
  auto metrics = admin().request("GET", "/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_TRUE(metrics->content_type.starts_with("text/plain"));
  const std::string& text = metrics->body;
  EXPECT_NE(text.find("flotilla_http_requests_total{method=\"POST\",route=\"/api/v1/bundles\",status=\"201\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("flotilla_http_request_duration_seconds_bucket{route=\"/api/v1/bundles/{}/file\",le=\"+Inf\"} 1"), std::string::npos);
  EXPECT_NE(text.find("flotilla_bundle_bytes_served_total " + std::to_string(std::filesystem::file_size(dir / "metered-2.4.0.flb"))),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE flotilla_devices gauge"), std::string::npos);
  // Raw paths never become labels (cardinality stays bounded).
  EXPECT_EQ(text.find(digest), std::string::npos);
}

TEST_F(ServerTest, OverlongPathsAndQueriesAreRefused) {
  EXPECT_EQ(admin().request("GET", "/api/v1/" + std::string(3000, 'a'))->status, 414);
  std::string query = "/api/v1/devices?";
  for (int i = 0; i < 40; ++i) query += "k" + std::to_string(i) + "=v&";
  EXPECT_EQ(admin().request("GET", query)->status, 400);
}

TEST_F(ServerTest, SigtermStopsCleanly) { EXPECT_EQ(server->stop(), 0); }

TEST(ServerTls, ServesHttpsWithTheGivenCertificateOnly) {
  TempDir dir;
  ASSERT_EQ(run_shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" +
                      (dir / "tls.key").string() + "' -out '" + (dir / "tls.crt").string() +
                      "' -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2> /dev/null"),
            0);
  ServerProcess server(FLOTILLA_SERVER, dir / "data");
  server.start({"--tls-cert", (dir / "tls.crt").string(), "--tls-key", (dir / "tls.key").string()});
  ASSERT_TRUE(server.url().starts_with("https://")) << server.url();
  ApiClient trusted(server.url(), server.admin_token());
  trusted.set_ca_file((dir / "tls.crt").string());
  EXPECT_EQ(trusted.request("GET", "/api/v1/trust")->status, 404);  // reached, authenticated, no root yet
  ApiClient untrusted(server.url(), server.admin_token());
  EXPECT_FALSE(untrusted.request("GET", "/healthz"));  // the system CAs do not vouch for it
  EXPECT_NE(run_shell("curl -sS --tls-max 1.1 --cacert '" + (dir / "tls.crt").string() + "' " + server.url() +
                      "/healthz > /dev/null 2>&1"),
            0);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServerInit, RefusesAnExistingDataDirAndWritesTokenPrivately) {
  TempDir dir;
  ASSERT_EQ(run_shell(std::string(FLOTILLA_SERVER) + " init --data '" + (dir / "d").string() + "' > /dev/null"), 0);
  EXPECT_EQ(std::filesystem::status(dir / "d" / "admin.token").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(run_shell(std::string(FLOTILLA_SERVER) + " init --data '" + (dir / "d").string() + "' 2> /dev/null"), 2);
}

}  // namespace
}  // namespace flotilla
