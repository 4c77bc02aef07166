// The server's default front (docs/deploy-nginx.md): the generated nginx
// configuration, the private upstream, the supervision of nginx, and
// uploads refused before their body is read.
#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <regex>
#include <sys/wait.h>
#include <thread>

#include "server/front/front.hpp"
#include "tests/support/raw_connection.hpp"
#include "tests/support/server_fixture.hpp"
#include "tests/support/test_device.hpp"

namespace flotilla {
namespace {

using namespace std::chrono_literals;
using testing::read_text;
using testing::run_shell;
using testing::write_text;

int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// Waits (bounded) until `condition` holds; false when it never did.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

class FrontTest : public testing::RunningServer {
 protected:
  std::vector<std::string> serve_args() const override { return {"--debug", "--export-grace", "2"}; }
  std::filesystem::path front_dir() const { return server->data() / "front"; }
  pid_t pid_in_file() const {
    try {
      return std::stoi(read_text(front_dir() / "nginx.pid"));
    } catch (...) {
      return -1;
    }
  }
  // nginx writes its pid file once it runs, which may be after the server
  // printed its URL (clients wait in the socket's backlog meanwhile).
  pid_t front_pid() const {
    eventually([&] { return alive(pid_in_file()); }, 5s);
    return pid_in_file();
  }
  int upstream_port() const {
    std::smatch port;
    std::string config = read_text(front_dir() / "nginx.conf");
    if (!std::regex_search(config, port, std::regex(R"(server 127\.0\.0\.1:(\d+);)"))) return 0;
    return std::stoi(port[1].str());
  }
  int healthz(const std::string& url) {
    return run_shell("curl -sf -m 2 -o /dev/null '" + url + "/healthz'") == 0 ? 200 : 0;
  }
};

TEST_F(FrontTest, TheApiListensPrivatelyAndAnswersOnlyItsFront) {
  int upstream = upstream_port();
  ASSERT_GT(upstream, 0);
  ASSERT_NE(upstream, port_of(server->url()));
  EXPECT_EQ(healthz(server->url()), 200);

  // A local process going around the front: refused, whatever it claims.
  testing::RawConnection direct(upstream);
  ASSERT_TRUE(direct.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flotilla-Front: guess\r\nX-Real-IP: 10.9.9.9\r\n\r\n"));
  EXPECT_EQ(direct.status(5s), 403);
  // Through the front, a forged secret and address are replaced by the front's.
  testing::RawConnection fronted(port_of(server->url()), "127.0.0.7");
  ASSERT_TRUE(fronted.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flotilla-Front: guess\r\nX-Real-IP: 10.9.9.9\r\n\r\n"));
  EXPECT_EQ(fronted.status(5s), 200);
  // The server's log names the client the front saw.
  EXPECT_TRUE(eventually([&] { return server->log().find("GET /healthz 200 from 127.0.0.7") != std::string::npos; }))
      << server->log();
  EXPECT_EQ(server->log().find("from 10.9.9.9"), std::string::npos);

  // And so do audit entries of what that client did.
  testing::RawConnection operator_call(port_of(server->url()), "127.0.0.7");
  std::string body = R"({"name": "ci", "role": "auditor"})";
  ASSERT_TRUE(operator_call.send("POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server->admin_token() +
                                 "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                                 "\r\nX-Real-IP: 10.9.9.9\r\n\r\n" + body));
  ASSERT_EQ(operator_call.status(5s), 201);
  auto entries = admin_client().request("GET", "/api/v1/audit?limit=1000")->json()["entries"];
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back()["action"], "token.create");
  EXPECT_EQ(entries.back()["details"]["client"], "127.0.0.7") << entries.back().dump();
}

// nginx takes an inherited socket as it is; its workers race for each
// connection, and on a blocking socket the loser sleeps in accept() until
// the next client comes, holding every request it serves (seen: downloads
// stalled for 30 s).
TEST_F(FrontTest, TheSocketTheFrontInheritsIsNonBlocking) {
  pid_t front = front_pid();
  ASSERT_TRUE(alive(front));
  std::string info = read_text("/proc/" + std::to_string(front) + "/fdinfo/3");
  std::smatch flags;
  ASSERT_TRUE(std::regex_search(info, flags, std::regex(R"(flags:\s*([0-7]+))"))) << info;
  EXPECT_NE(std::stoul(flags[1].str(), nullptr, 8) & O_NONBLOCK, 0u) << info;
  EXPECT_NE(server->log().find("using inherited sockets from \"3;\""), std::string::npos) << server->log();
}

TEST_F(FrontTest, AKilledFrontIsStartedAgainOnTheSamePort) {
  pid_t first = front_pid();
  ASSERT_TRUE(alive(first));
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return healthz(server->url()) == 200 && pid_in_file() != first; }));
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 5s) << "polls failed for more than a few seconds";
  EXPECT_TRUE(alive(front_pid()));
  EXPECT_NE(server->log().find("starting it again"), std::string::npos) << server->log();
}

TEST_F(FrontTest, SigtermStopsTheServerAndItsFront) {
  pid_t front = front_pid();
  ASSERT_TRUE(alive(front));
  EXPECT_EQ(server->stop(), 0);
  EXPECT_TRUE(eventually([&] { return !alive(front); }, 5s));
  EXPECT_NE(healthz(server->url()), 200);
}

TEST_F(FrontTest, AKilledServerTakesItsFrontWithIt) {
  pid_t front = front_pid();
  ASSERT_TRUE(alive(front));
  server->kill9();
  // The front was the server's child: reaped by init, not by the test.
  EXPECT_TRUE(eventually([&] { return !alive(front); }, 5s));
  EXPECT_NE(healthz(server->url()), 200) << "the port is still served";
  // A new server takes the same port at once.
  server->keep_port();
  server->start(serve_args());
  EXPECT_EQ(healthz(server->url()), 200);
}

TEST_F(FrontTest, UploadsAreRefusedBeforeTheirBodyUnlessTheCallerMayUpload) {
  auto auditor = admin_client().request("POST", "/api/v1/tokens", R"({"name": "audit", "role": "auditor"})");
  ASSERT_EQ(auditor->status, 201) << auditor->body;
  std::string auditor_token = auditor->json()["token"];
  for (auto [authorization, expected] : {std::pair{std::string(), 401}, std::pair{"Bearer " + auditor_token, 403},
                                        std::pair{std::string("Bearer wrong"), 401}}) {
    testing::RawConnection upload(port_of(server->url()));
    std::string head = "POST /api/v1/bundles HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000000\r\n";
    if (!authorization.empty()) head += "Authorization: " + authorization + "\r\n";
    ASSERT_TRUE(upload.send(head + "\r\n" + std::string(64 * 1024, 'x')));
    // Answered while 8 GB are still to come: nothing waits for the body.
    EXPECT_EQ(upload.status(5s), expected) << authorization;
  }
  EXPECT_TRUE(std::filesystem::is_empty(server->data() / "uploads"));
}

TEST_F(FrontTest, BundleDownloadsAreSentByTheFrontWithTheDigestAsETag) {
  std::string digest = upload_bundle();
  auto dir_path = dir / "dl";
  std::string url = server->url() + "/api/v1/bundles/" + digest + "/file";
  std::string auth = "-H 'Authorization: Bearer " + server->admin_token() + "'";
  ASSERT_EQ(run_shell("curl -sf " + auth + " -D '" + dir_path.string() + ".h' -o '" + dir_path.string() + "' '" + url + "'"), 0);
  std::string headers = read_text(dir_path.string() + ".h");
  EXPECT_NE(headers.find("ETag: \"" + digest + "\""), std::string::npos) << headers;
  EXPECT_NE(headers.find("Server: nginx"), std::string::npos) << headers;
  // The internal location is not reachable from outside.
  EXPECT_NE(run_shell("curl -sf -o /dev/null '" + server->url() + "/_flotilla_bundles/" + digest + ".flb'"), 0);
}

// Reports and exports written for one request go out through the front
// (X-Accel-Redirect, sendfile) with the server's headers, from a location
// nobody outside reaches, and leave the data directory after the grace.
TEST_F(FrontTest, ReportsAndExportsAreSentByTheFrontAndRemovedAfterTheirGrace) {
  std::string auth = "-H 'Authorization: Bearer " + server->admin_token() + "'";
  auto fetch = [&](const std::string& path, const std::string& name) {
    auto out = dir / name;
    EXPECT_EQ(run_shell("curl -sf " + auth + " -D '" + out.string() + ".h' -o '" + out.string() + "' '" + server->url() + path + "'"), 0);
    return read_text(out.string() + ".h");
  };
  auto headers = fetch("/api/v1/compliance?format=signed", "report.signed.json");
  EXPECT_NE(headers.find("Server: nginx"), std::string::npos) << headers;
  EXPECT_NE(headers.find("Content-Type: application/vnd.flotilla.report+dsse+json"), std::string::npos) << headers;
  EXPECT_NE(headers.find("Content-Disposition: attachment; filename=\"compliance.signed.json\""), std::string::npos) << headers;
  EXPECT_NE(headers.find("X-Flotilla-Devices: "), std::string::npos) << headers;
  // The report is whole: it verifies offline with the server's report key.
  ASSERT_EQ(run_shell("curl -sf " + auth + " -o '" + (dir / "report.pub").string() + "' '" + server->url() + "/api/v1/trust/report-key'"), 0);
  EXPECT_EQ(run_shell(std::string(FLOTILLA_CLI) + " compliance verify '" + (dir / "report.signed.json").string() + "' --key '" +
                      (dir / "report.pub").string() + "' > /dev/null"), 0);
  headers = fetch("/api/v1/compliance?format=html", "report.html");
  EXPECT_NE(headers.find("Content-Security-Policy: default-src 'none'"), std::string::npos) << headers;
  headers = fetch("/api/v1/audit/export", "audit.jsonl");
  EXPECT_NE(headers.find("Content-Type: application/x-ndjson"), std::string::npos) << headers;
  EXPECT_FALSE(read_text(dir / "audit.jsonl").empty());
  // Still on disk right after (nginx may not have opened it yet), gone
  // after the grace (2 s here).
  auto exports = server->data() / "exports";
  ASSERT_TRUE(std::filesystem::exists(exports));
  EXPECT_FALSE(std::filesystem::is_empty(exports));
  for (const auto& entry : std::filesystem::directory_iterator(exports)) {
    EXPECT_NE(run_shell("curl -sf -o /dev/null '" + server->url() + "/_flotilla_exports/" + entry.path().filename().string() + "'"), 0);
  }
  EXPECT_TRUE(eventually([&] { return std::filesystem::is_empty(exports); }, 6s));
}

class GeneratedConfig : public ::testing::Test {
 protected:
  testing::TempDir dir;
  server::front::FrontOptions options() {
    std::filesystem::create_directories(dir / "data" / "bundles");
    return {.listen = {.tls = false, .host = "127.0.0.1", .port = 8443},
            .bundle_dir = dir / "data" / "bundles",
            .export_dir = dir / "data" / "exports",
            .prefix = dir / "data" / "front"};
  }
  common::Status check(const server::front::FrontSettings& settings) {
    std::filesystem::create_directories(settings.prefix);
    write_text(settings.prefix / "nginx.conf", server::front::nginx_config(settings));
    return server::front::check_config(server::front::kNginxPath, settings.prefix / "nginx.conf", settings.prefix);
  }
};

TEST_F(GeneratedConfig, PlainAndTlsWithClientCertificatesPassNginxT) {
  auto plain = server::front::front_settings(options(), "127.0.0.1", testing::free_port(), 8080);
  plain.front_secret = "s3cret";
  auto checked = check(plain);
  EXPECT_TRUE(checked) << checked.error().message();

  ASSERT_EQ(run_shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" +
                      (dir / "tls.key").string() + "' -out '" + (dir / "tls.crt").string() +
                      "' -days 2 -subj /CN=127.0.0.1 2>/dev/null"),
            0);
  auto tls_options = options();
  tls_options.listen.tls = true;
  tls_options.tls_cert = (dir / "tls.crt").string();
  tls_options.tls_key = (dir / "tls.key").string();
  tls_options.tls_client_ca = (dir / "tls.crt").string();
  auto tls = server::front::front_settings(tls_options, "127.0.0.1", testing::free_port(), 8080);
  std::string config = server::front::nginx_config(tls);
  EXPECT_NE(config.find("ssl_protocols TLSv1.2 TLSv1.3;"), std::string::npos);
  EXPECT_NE(config.find("ssl_verify_client optional;"), std::string::npos);
  checked = check(tls);
  EXPECT_TRUE(checked) << checked.error().message();
}

TEST_F(GeneratedConfig, PathsWithSpacesAndSemicolonsStayWhole) {
  auto odd = options();
  odd.prefix = dir / "data dir; odd" / "front";
  odd.bundle_dir = dir / "data dir; odd" / "bundles";
  std::filesystem::create_directories(odd.bundle_dir);
  auto checked = check(server::front::front_settings(odd, "127.0.0.1", testing::free_port(), 8080));
  EXPECT_TRUE(checked) << checked.error().message();
}

TEST_F(GeneratedConfig, ABrokenConfigurationIsRefusedWithNginxsWords) {
  auto settings = server::front::front_settings(options(), "127.0.0.1", testing::free_port(), 8080);
  settings.tls = true;  // a TLS listener without certificates
  auto checked = check(settings);
  ASSERT_FALSE(checked);
  EXPECT_NE(checked.error().message().find("certificate"), std::string::npos) << checked.error().message();
}

TEST_F(GeneratedConfig, NginxConfigPrintsAConfigurationForASitesOwnNginx) {
  std::filesystem::create_directories(dir / "data" / "front");
  auto out = dir / "site.conf";
  ASSERT_EQ(run_shell(std::string(FLOTILLA_SERVER) + " nginx-config --data '" + (dir / "data").string() +
                      "' --listen http://127.0.0.1:" + std::to_string(testing::free_port()) +
                      " --upstream-port 8080 > '" + out.string() + "'"),
            0);
  std::string config = read_text(out);
  EXPECT_NE(config.find("--front none"), std::string::npos);
  EXPECT_EQ(config.find("X-Flotilla-Front"), std::string::npos) << "a site's server has no front secret";
  auto checked = server::front::check_config(server::front::kNginxPath, out, dir / "data" / "front");
  EXPECT_TRUE(checked) << checked.error().message();
  EXPECT_NE(run_shell(std::string(FLOTILLA_SERVER) + " nginx-config --listen http://127.0.0.1:0 > /dev/null 2>&1"), 0);
}

}  // namespace
}  // namespace flotilla
