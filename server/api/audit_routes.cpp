// /api/v1/audit (list, verify, export) and /api/v1/trust (show, upload).
#include <charconv>

#include <fstream>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/log.hpp"
#include "server/api/app.hpp"
#include "server/api/reply.hpp"
#include "server/store/audit_walk.hpp"
#include "signing/audit_chain.hpp"
#include "signing/digest.hpp"
#include "signing/errors.hpp"

namespace flotilla::server::api {
namespace {

constexpr std::int64_t kAuditPage = 1000;

std::optional<std::int64_t> query_integer(const http::Request& request, const std::string& name,
                                          std::int64_t fallback, std::int64_t min, std::int64_t max) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return fallback;
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || ptr != it->second.data() + it->second.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

common::Json entry_json(const signing::AuditEntry& e) {
  auto j = signing::audit_entry_json(e);
  j["hash"] = e.hash;
  return j;
}

}  // namespace

// Calls `each` for every audit entry, oldest first, a page at a time.
common::Status ServerApp::for_each_audit_entry(const std::function<common::Status(const signing::AuditEntry&)>& each) {
  return server::for_each_audit_entry(store_, each);
}

http::Response ServerApp::list_audit(http::Request& request, const Params&, const Caller&) {
  auto after = query_integer(request, "after", 0, 0, std::int64_t{1} << 62);
  if (!after) return problem(400, "invalid query", {{"after", "must be a non-negative integer"}});
  auto limit = query_integer(request, "limit", 100, 1, kAuditPage);
  if (!limit) return problem(400, "invalid query", {{"limit", "must be an integer from 1 to 1000"}});
  auto entries = store_.list_audit(*after, *limit);
  if (!entries) return problem_from(entries.error());
  common::Json out = common::Json::array();
  for (const auto& e : *entries) out.push_back(entry_json(e));
  return json_reply(200, {{"entries", out}});
}

http::Response ServerApp::verify_audit(http::Request&, const Params&, const Caller&) {
  signing::AuditChainVerifier verifier;
  auto walked = for_each_audit_entry([&](const signing::AuditEntry& e) { return verifier.add_line(signing::audit_line(e)); });
  if (!walked) {
    if (!walked.error().is(signing::Errc::kAuditChainBroken)) return problem_from(walked.error());
    common::log(common::LogLevel::kError, "audit chain broken: " + walked.error().message());
    return json_reply(200, {{"valid", false}, {"error", walked.error().message()}, {"entries", verifier.lines()}});
  }
  return json_reply(200, {{"valid", true}, {"entries", verifier.lines()},
                          {"head", {{"seq", verifier.head().seq}, {"hash", verifier.head().hash}}}});
}

// The newest entry, cheaply: where a reader of the latest entries starts.
http::Response ServerApp::show_audit_head(http::Request&, const Params&, const Caller&) {
  auto head = store_.audit_head();
  if (!head) return problem_from(head.error());
  return json_reply(200, {{"seq", head->seq}, {"hash", head->hash}});
}

// Written to a file a page at a time and sent from it: the log of a
// large fleet does not fit in memory.
http::Response ServerApp::export_audit(http::Request&, const Params&, const Caller&) {
  auto dir = data_dir_ / "exports";
  std::filesystem::create_directories(dir);
  auto file = dir / ("audit-" + common::to_hex(signing::random_bytes(12)) + ".jsonl");
  common::PartialFiles partial({file});  // an export that fails leaves nothing behind
  common::Status walked;
  try {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    walked = for_each_audit_entry([&](const signing::AuditEntry& e) -> common::Status {
      out << signing::audit_line(e) << '\n';
      if (!out) return common::fail(common::Errc::kIo, "cannot write the audit export");
      return {};
    });
  } catch (const std::exception& e) {
    walked = common::fail(common::Errc::kIo, std::string("writing the audit export: ") + e.what());
  }
  if (!walked) return problem_from(walked.error());
  partial.keep();
  return export_file_reply(file, "application/x-ndjson");
}

http::Response ServerApp::show_trust(http::Request&, const Params&, const Caller&) {
  auto root = trust_root();
  if (!root) return problem(404, "no trust root is configured");
  http::Response response;
  response.body = root->envelope_json();
  return response;
}

http::Response ServerApp::upload_trust(http::Request& request, const Params&, const Caller& caller) {
  // The root as stored now (not this server's cached copy): another server
  // sharing the store may have rotated it a moment ago.
  auto stored = store_.setting(kTrustRootSetting);
  if (!stored) return problem_from(stored.error());
  std::optional<signing::TrustRoot> current;
  if (*stored) {
    auto parsed = signing::TrustRoot::from_json(**stored);
    if (!parsed) return problem_from(parsed.error().with_context("the stored trust root"));
    current = std::move(*parsed);
  }
  auto next = current ? current->rotate_to(request.body) : signing::TrustRoot::from_json(request.body);
  if (!next) return problem(422, "the root was refused: " + next.error().describe());
  if (auto ok = next->check_current(clock_()); !ok) return problem(422, "the root was refused: " + ok.error().message());
  // Stored only if the root it rotates from is still the stored one.
  auto ok = store_.set_settings_if(kTrustRootSetting, *stored,
                                   {{kTrustRootSetting, request.body}, {trust_root_version_setting(next->version()), request.body}},
                                   caller.audit(current ? "trust.rotate" : "trust.set", "root:" + std::to_string(next->version()),
                                    "ok", {{"version", next->version()}}));
  if (!ok && ok.error().is(common::Errc::kConflict)) {
    return problem(409, "the trust root changed while this one was checked; fetch the current root and rotate from it");
  }
  if (!ok) return problem_from(ok.error());
  auto version = next->version();
  {
    std::lock_guard lock(root_mutex_);
    root_ = std::make_shared<const signing::TrustRoot>(std::move(*next));
    root_text_ = request.body;
    root_read_at_ = std::chrono::steady_clock::now();
  }
  return json_reply(200, {{"version", version}});
}

}  // namespace flotilla::server::api
