// /api/v1/tokens: operator API tokens (admin only); /api/v1/me: the caller's own.

#include "artifacts/manifest.hpp"
#include "server/api/app.hpp"
#include "server/front/nginx_config.hpp"
#include "server/api/reply.hpp"

namespace flotilla::server::api {
namespace {

common::Json token_json(const TokenRecord& t) {
  common::Json out = {{"id", t.id}, {"name", t.name}, {"role", t.role}, {"created_at", t.created_at},
                      {"revoked", t.revoked}};
  out["expires_at"] = t.expires_at ? common::Json(*t.expires_at) : common::Json(nullptr);
  return out;
}

// "expires_at" of a body: a time in the future; null for a token that
// never expires; absent, the server's default lifetime from now (none when
// the lifetime is zero).
std::expected<std::optional<std::string>, http::Response> expiry_of(const common::JsonObject& body, common::TimePoint now,
                                                                    std::chrono::seconds default_lifetime) {
  if (!body.has("expires_at")) {
    if (default_lifetime.count() == 0) return std::nullopt;
    return common::format_rfc3339(now + default_lifetime);
  }
  if (body.json()["expires_at"].is_null()) return std::nullopt;
  auto text = body.string("expires_at", 64);
  if (!text) return std::unexpected(problem_from(text.error()));
  auto when = common::parse_rfc3339(*text);
  if (!when) return std::unexpected(problem(400, "invalid expiry", {{"/expires_at", when.error().message()}}));
  if (*when <= now) return std::unexpected(problem(400, "invalid expiry", {{"/expires_at", "is in the past"}}));
  return common::format_rfc3339(*when);
}

// How long a rotated token's old secret keeps working by default, and at most.
constexpr std::int64_t kDefaultGraceSeconds = 24 * 3600;
constexpr std::int64_t kMaxGraceSeconds = 30 * 24 * 3600;

}  // namespace

http::Response ServerApp::create_token(http::Request& request, const Params&, const Caller& caller) {
  common::Json doc;
  auto body = json_body(request, doc);
  if (!body) return body.error();
  if (auto ok = body->only_keys({"name", "role", "expires_at"}); !ok) return problem_from(ok.error());
  auto name = body->string("name", 64);
  if (!name) return problem_from(name.error());
  if (!artifacts::is_safe_name(*name, 64)) {
    return problem(400, "invalid token name", {{"/name", "must match [A-Za-z0-9._-]{1,64}"}});
  }
  auto role_text = body->string("role", 16);
  if (!role_text) return problem_from(role_text.error());
  if (!parse_role(*role_text)) {
    return problem(400, "invalid role", {{"/role", "must be admin, operator, publisher or auditor"}});
  }
  TokenRecord token{.name = *name, .role = *role_text, .created_at = common::format_rfc3339(clock_())};
  if (auto expiry = expiry_of(*body, clock_(), token_lifetime_); !expiry) {
    return expiry.error();
  } else {
    token.expires_at = *expiry;
  }
  std::string secret = new_token_secret();
  auto id = store_.create_token(token, token_hash(secret),
                                caller.audit("token.create", "token:" + token.name, "ok", {{"role", token.role}}));
  if (!id) return problem_from(id.error());
  token.id = *id;
  auto out = token_json(token);
  out["token"] = secret;  // shown once, never stored
  return json_reply(201, out);
}

http::Response ServerApp::list_tokens(http::Request&, const Params&, const Caller&) {
  auto tokens = store_.list_tokens();
  if (!tokens) return problem_from(tokens.error());
  common::Json out = common::Json::array();
  for (const auto& t : *tokens) out.push_back(token_json(t));
  return json_reply(200, {{"tokens", out}});
}

http::Response ServerApp::revoke_token(http::Request&, const Params& params, const Caller& caller) {
  auto parsed_id = parse_positive(params[0]);
  if (!parsed_id) return problem(400, "a token id is a positive integer");
  std::int64_t id = *parsed_id;
  auto ok = store_.revoke_token(id, caller.audit("token.revoke", "token:" + std::to_string(id)));
  if (!ok) return problem_from(ok.error());
  return json_reply(200, {{"id", id}, {"revoked", true}});
}

// A new secret for a token, the old one valid for a grace period (default
// a day) so that whatever uses it can be given the new one first.
http::Response ServerApp::rotate_token(http::Request& request, const Params& params, const Caller& caller) {
  auto parsed_id = parse_positive(params[0]);
  if (!parsed_id) return problem(400, "a token id is a positive integer");
  common::Json doc = common::Json::object();
  std::optional<common::JsonObject> body;
  if (!request.body.empty()) {  // a body is optional: every field has a default
    auto parsed = json_body(request, doc);
    if (!parsed) return parsed.error();
    body = *parsed;
  } else {
    body = *common::JsonObject::of(doc, "");
  }
  if (auto ok = body->only_keys({"grace_seconds", "expires_at"}); !ok) return problem_from(ok.error());
  std::int64_t grace = kDefaultGraceSeconds;
  if (body->has("grace_seconds")) {
    auto given = body->integer("grace_seconds", 0, kMaxGraceSeconds);
    if (!given) return problem_from(given.error());
    grace = *given;
  }
  auto now = clock_();
  TokenRecord token{.created_at = common::format_rfc3339(now)};
  if (auto expiry = expiry_of(*body, now, token_lifetime_); !expiry) {
    return expiry.error();
  } else {
    token.expires_at = *expiry;
  }
  std::string old_valid_until = common::format_rfc3339(now + std::chrono::seconds(grace));
  std::string secret = new_token_secret();
  auto made = store_.rotate_token(*parsed_id, token, token_hash(secret), token.created_at, old_valid_until,
                                  caller.audit("token.rotate", "token:" + std::to_string(*parsed_id), "ok",
                                               {{"from", *parsed_id}, {"grace_seconds", grace}, {"old_valid_until", old_valid_until}}));
  if (!made) return problem_from(made.error());
  auto out = token_json(*made);
  out["token"] = secret;  // shown once, never stored
  out["previous"] = {{"id", *parsed_id}, {"valid_until", old_valid_until}};
  return json_reply(201, out);
}

// Who the token is and what it may do: a client (the dashboard) shows only
// the actions the role allows; the server still checks every call.
http::Response ServerApp::show_caller(http::Request&, const Params&, const Caller& caller) {
  common::Json permissions = common::Json::array();
  for (auto permission : kAllPermissions) {
    if (allowed(caller.role, permission)) permissions.push_back(permission_name(permission));
  }
  common::Json out = {{"actor", caller.actor}, {"role", role_name(caller.role)}, {"permissions", permissions}};
  if (caller.token) out["token"] = token_json(*caller.token);
  return json_reply(200, out);
}

http::Response ServerApp::check_upload_permission(http::Request& request, const Params&, const Caller&) {
  // The front asks before every request to /api/v1/bundles: only an
  // upload's body is worth stopping early; the route itself checks the rest.
  if (request.header(front::kOriginalMethodHeader).value_or("POST") != "POST") return http::Response{.status = 204};
  auto caller = authenticate(request);
  if (!caller) return caller.error();
  if (!allowed(caller->role, Permission::kUploadBundles)) {
    return problem(403, "the " + std::string(role_name(caller->role)) + " role may not upload bundles");
  }
  return http::Response{.status = 204};
}

}  // namespace flotilla::server::api
