// The agent talks without TLS only to this machine (DESIGN.md §5): the
// URL rules, and the transport refusing before any connection is made.
#include <gtest/gtest.h>

#include "client/errors.hpp"
#include "client/transport.hpp"
#include "client/url_rules.hpp"

namespace flotilla::client {
namespace {

TEST(UrlRules, HostIsFoundBehindUserinfoPortAndBrackets) {
  EXPECT_EQ(url_host("https://updates.example.com/api"), "updates.example.com");
  EXPECT_EQ(url_host("http://user:pw@127.0.0.1:8080/x"), "127.0.0.1");
  EXPECT_EQ(url_host("http://[::1]:8080/"), "::1");
  EXPECT_EQ(url_host("http://LocalHost?q"), "localhost");
  EXPECT_EQ(url_host("http://evil.example@127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(url_host("http://127.0.0.1@evil.example/"), "evil.example");
  EXPECT_EQ(url_host("no scheme"), "");
  EXPECT_EQ(url_host("http://[::1"), "");
}

TEST(UrlRules, LoopbackIsLocalhost127Slash8AndIpv6One) {
  for (const char* host : {"localhost", "127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"", "10.0.0.1", "127.0.0", "127.0.0.1.example.com", "127.0.0.256", "1127.0.0.1",
                           "localhost.example.com", "::2", "127..0.1", "127.0.0.1."}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(UrlRules, PlainHttpOnlyToThisMachine) {
  EXPECT_TRUE(require_tls_unless_loopback("https://updates.example.com", "server.url"));
  EXPECT_TRUE(require_tls_unless_loopback("http://127.0.0.1:8080", "server.url"));
  EXPECT_TRUE(require_tls_unless_loopback("http://[::1]:8080/api", "server.url"));
  auto refused = require_tls_unless_loopback("http://updates.example.com", "server.url");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().is(Errc::kInsecureUrl));
  EXPECT_NE(refused.error().describe().find("server.url"), std::string::npos);
  EXPECT_NE(refused.error().describe().find("https://"), std::string::npos);
  EXPECT_FALSE(require_tls_unless_loopback("ftp://127.0.0.1", "server.url"));
  // Tricks that put "127.0.0.1" in front of another host.
  for (const char* url : {"http://127.0.0.1:80@evil.example/", "http://127.0.0.1%40evil.example/",
                          "http://127.0.0.1.evil.example/", "http://localhost.evil.example:8080/"}) {
    EXPECT_FALSE(require_tls_unless_loopback(url, "server.url")) << url;
  }
}

TEST(UrlRules, TheTransportRefusesPlainHttpToAnotherMachineBeforeConnecting) {
  // 192.0.2.0/24 is reserved for documentation: nothing answers there, so
  // a connection attempt would show as a timeout, not this error.
  Transport transport("http://192.0.2.1:8080", std::nullopt);
  auto answer = transport.request("POST", "/api/v1/device/poll", "{}", {"Authorization: Bearer secret"});
  ASSERT_FALSE(answer);
  EXPECT_NE(answer.error().describe().find("plain http:// is allowed only"), std::string::npos) << answer.error().describe();

  // The server's download carries the token: refused the same way.
  DownloadOptions download{.url = "http://192.0.2.1:8080/api/v1/device/bundles/ab",
                           .headers = {"Authorization: Bearer secret"}};
  auto source = HttpSource::open(download);
  ASSERT_FALSE(source);
  EXPECT_NE(source.error().describe().find("plain http:// is allowed only"), std::string::npos) << source.error().describe();
}

}  // namespace
}  // namespace flotilla::client
