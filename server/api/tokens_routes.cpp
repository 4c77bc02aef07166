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
  if (body->has("expires_at")) {
    auto text = body->string("expires_at", 64);
    if (!text) return problem_from(text.error());
    auto when = common::parse_rfc3339(*text);
    if (!when) return problem(400, "invalid expiry", {{"/expires_at", when.error().message()}});
    if (*when <= clock_()) return problem(400, "invalid expiry", {{"/expires_at", "is in the past"}});
    token.expires_at = common::format_rfc3339(*when);
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
