#include "signing/audit_chain.hpp"

#include <gtest/gtest.h>

#include "common/canonical_json.hpp"
#include "signing/digest.hpp"
#include "signing/errors.hpp"

namespace flotilla::signing {
namespace {

std::vector<AuditEntry> chain(int n) {
  std::vector<AuditEntry> entries;
  std::string prev = kGenesisHash;
  for (int i = 1; i <= n; ++i) {
    AuditEntry e{.seq = i, .time = "2026-11-24T19:00:0" + std::to_string(i) + "Z", .actor = "operator:alice",
                 .action = "bundle.upload", .object = "bundle:" + std::to_string(i), .outcome = "ok",
                 .details = {{"size", i * 100}, {"name", "gw-os"}}, .prev_hash = prev};
    EXPECT_TRUE(seal(e));
    prev = e.hash;
    entries.push_back(e);
  }
  return entries;
}

TEST(AuditChain, HashIsSha256OfPrevHashAndCanonicalEntry) {
  auto e = chain(1)[0];
  std::string expected = sha256_hex(kGenesisHash + *common::canonical_json(audit_entry_json(e)));
  EXPECT_EQ(e.hash, expected);
  EXPECT_EQ(*common::canonical_json(audit_entry_json(e)),
            R"({"action":"bundle.upload","actor":"operator:alice","details":{"name":"gw-os","size":100},)"
            R"("object":"bundle:1","outcome":"ok","prev_hash":")" + kGenesisHash +
                R"(","seq":1,"time":"2026-11-24T19:00:01Z"})");
}

TEST(AuditChain, VerifierAcceptsAnHonestExport) {
  AuditChainVerifier verifier;
  for (const auto& e : chain(5)) ASSERT_TRUE(verifier.add_line(audit_line(e)));
  EXPECT_EQ(verifier.head().seq, 5);
  EXPECT_EQ(verifier.head().hash, chain(5).back().hash);
}

TEST(AuditChain, DetectsEditedRemovedReorderedAndForgedEntries) {
  auto entries = chain(4);
  auto verify = [](const std::vector<std::string>& lines) -> common::Status {
    AuditChainVerifier verifier;
    for (const auto& line : lines) {
      if (auto ok = verifier.add_line(line); !ok) return ok;
    }
    return {};
  };
  std::vector<std::string> lines;
  for (const auto& e : entries) lines.push_back(audit_line(e));

  auto edited = lines;
  edited[2].replace(edited[2].find("operator:alice"), 14, "operator:mallo");
  auto result = verify(edited);
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().is(Errc::kAuditChainBroken));
  EXPECT_NE(result.error().message().find("line 3"), std::string::npos) << result.error().message();

  auto removed = lines;
  removed.erase(removed.begin() + 1);
  EXPECT_NE(verify(removed).error().message().find("line 2"), std::string::npos);

  auto reordered = lines;
  std::swap(reordered[1], reordered[2]);
  EXPECT_TRUE(verify(reordered).error().is(Errc::kAuditChainBroken));

  // Re-sealing an edited entry breaks the link to the next one.
  auto resealed = entries;
  resealed[1].outcome = "denied";
  ASSERT_TRUE(seal(resealed[1]));
  std::vector<std::string> forged;
  for (const auto& e : resealed) forged.push_back(audit_line(e));
  EXPECT_NE(verify(forged).error().message().find("line 3"), std::string::npos);

  EXPECT_TRUE(verify({"{not json"}).error().is(Errc::kAuditChainBroken));
}

}  // namespace
}  // namespace flotilla::signing
