// Commands against the server: bundles, tokens, trust.
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "cli/table.hpp"
#include "common/file.hpp"

namespace flotilla::cli {
namespace {

// --expires of the token commands: a time, "never" (an explicit null), or
// nothing (the server's default lifetime).
void set_expiry(common::Json& body, const std::string& expires) {
  if (expires == "never") {
    body["expires_at"] = nullptr;
  } else if (!expires.empty()) {
    body["expires_at"] = expires;
  }
}

std::string expiry_text(const common::Json& token) {
  return token.contains("expires_at") && token["expires_at"].is_string() ? "expires " + token["expires_at"].get<std::string>()
                                                                         : "never expires";
}

}  // namespace

common::Result<ApiClient> connect(const ServerOptions& options) {
  std::optional<std::string> token;
  if (!options.token_file.empty()) {
    auto secret = common::read_file(options.token_file, 4096);
    if (!secret) return common::propagate(secret, "reading the token file");
    auto end = secret->find_last_not_of(" \t\r\n");
    token = secret->substr(0, end == std::string::npos ? 0 : end + 1);
  }
  ApiClient client(options.server, token);
  if (!options.ca_file.empty()) client.set_ca_file(options.ca_file);
  return client;
}

int call(const ServerOptions& options, const std::string& method, const std::string& path,
         const std::string& body, const std::function<void(const common::Json&)>& show) {
  auto client = connect(options);
  if (!client) return report_failure(client.error());
  auto response = client->request(method, path, body);
  if (!response) return report_failure(response.error());
  if (!response->ok()) return report_api_error(*response);
  if (options.json) {
    std::cout << response->json().dump(2) << "\n";
  } else {
    show(response->json());
  }
  return kExitOk;
}

void add_server_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  // bundles
  auto* bundles = app.add_subcommand("bundles", "Bundles on the server: upload, list, show, delete, sync-mirror");
  bundles->require_subcommand(1);
  auto files = std::make_shared<std::vector<std::string>>();
  auto* upload = bundles->add_subcommand("upload", "Upload signed bundles; the server verifies each against its root");
  upload->add_option("FILE", *files, "Bundle files")->required()->check(CLI::ExistingFile);
  on_run(*upload, exit_code, [&server, files] {
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    int result = kExitOk;
    for (const auto& file : *files) {
      ProgressBar bar("uploading " + std::filesystem::path(file).filename().string(), 4 << 20);
      auto response = client->upload("/api/v1/bundles", file, [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
      if (!response) return report_failure(response.error());
      if (!response->ok()) {
        std::cerr << file << ":\n";
        result = report_api_error(*response);
        continue;
      }
      auto j = response->json();
      if (server.json) {
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << (response->status == 201 ? "uploaded " : "already present ") << json_text(j, "name") << " "
                  << json_text(j, "version") << " (" << json_text(j, "file_sha256") << ")\n";
      }
    }
    return result;
  });
  auto* list = bundles->add_subcommand("list", "List bundles");
  on_run(*list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/bundles", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& b : j["bundles"]) {
        rows.push_back({json_text(b, "name"), json_text(b, "version"), json_text(b, "kind"), json_text(b, "component"),
                        json_text(b, "security_version"), json_text(b, "size"), json_text(b, "file_sha256").substr(0, 16), json_text(b, "uploaded_at")});
      }
      print_table(std::cout, {"NAME", "VERSION", "KIND", "COMPONENT", "SECURITY", "BYTES", "DIGEST", "UPLOADED"}, rows);
    });
  });
  auto id = std::make_shared<std::string>();
  auto* show = bundles->add_subcommand("show", "Show one bundle with its manifest");
  show->add_option("ID", *id, "File digest or bundle id")->required();
  on_run(*show, exit_code, [&server, id] {
    return call(server, "GET", "/api/v1/bundles/" + *id, "", [](const common::Json& j) { std::cout << j.dump(2) << "\n"; });
  });
  auto* remove = bundles->add_subcommand("delete", "Delete a bundle no deployment uses");
  remove->add_option("ID", *id, "File digest or bundle id")->required();
  on_run(*remove, exit_code, [&server, id] {
    return call(server, "DELETE", "/api/v1/bundles/" + *id, "",
                [](const common::Json& j) { std::cout << "deleted " << json_text(j, "deleted") << "\n"; });
  });

  add_mirror_command(*bundles, exit_code, server);

  // tokens
  auto* tokens = app.add_subcommand("tokens", "Operator API tokens (admin): create, list, rotate, revoke");
  tokens->require_subcommand(1);
  struct TokenOptions {
    std::string name, role, expires, id;
    std::optional<std::int64_t> grace_seconds;
  };
  auto t = std::make_shared<TokenOptions>();
  auto* create = tokens->add_subcommand("create", "Create a token; its secret is printed once");
  create->add_option("--name", t->name, "A name for people")->required();
  create->add_option("--role", t->role, "Role")->required()->check(CLI::IsMember({"admin", "operator", "publisher", "auditor"}));
  create->add_option("--expires", t->expires,
                     "RFC 3339 expiry, or never (default: the server's token lifetime, 90 days unless it is configured otherwise)");
  on_run(*create, exit_code, [&server, t] {
    common::Json body = {{"name", t->name}, {"role", t->role}};
    set_expiry(body, t->expires);
    return call(server, "POST", "/api/v1/tokens", body.dump(), [](const common::Json& j) {
      std::cout << "token " << json_text(j, "id") << " (" << json_text(j, "name") << ", " << json_text(j, "role") << ", "
                << expiry_text(j) << "):\n"
                << json_text(j, "token") << "\n(shown once: store it now)\n";
    });
  });
  auto* token_list = tokens->add_subcommand("list", "List tokens (never their secrets)");
  on_run(*token_list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/tokens", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& k : j["tokens"]) {
        rows.push_back({json_text(k, "id"), json_text(k, "name"), json_text(k, "role"), json_text(k, "created_at"), json_text(k, "expires_at"),
                        k.value("revoked", false) ? "revoked" : "active"});
      }
      print_table(std::cout, {"ID", "NAME", "ROLE", "CREATED", "EXPIRES", "STATE"}, rows);
    });
  });
  auto* rotate = tokens->add_subcommand(
      "rotate", "Give a token a new secret (printed once); the old secret keeps working for --grace seconds, so whatever "
                "uses it can be given the new one first. Both are in the audit log");
  rotate->add_option("ID", t->id, "Token id")->required();
  rotate->add_option("--grace", t->grace_seconds, "Seconds the old secret stays valid (default 86400, at most 30 days)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{30} * 24 * 3600));
  rotate->add_option("--expires", t->expires,
                     "RFC 3339 expiry of the new secret, or never (default: the server's token lifetime from now)");
  on_run(*rotate, exit_code, [&server, t] {
    common::Json body = common::Json::object();
    if (t->grace_seconds) body["grace_seconds"] = *t->grace_seconds;
    set_expiry(body, t->expires);
    return call(server, "POST", "/api/v1/tokens/" + t->id + "/rotate", body.dump(), [](const common::Json& j) {
      std::cout << "token " << json_text(j, "id") << " (" << json_text(j, "name") << ", " << json_text(j, "role") << ", "
                << expiry_text(j) << ") replaces token " << json_text(j["previous"], "id") << ", whose secret works until "
                << json_text(j["previous"], "valid_until") << ":\n"
                << json_text(j, "token") << "\n(shown once: store it now)\n";
    });
  });
  auto* revoke = tokens->add_subcommand("revoke", "Revoke a token");
  revoke->add_option("ID", t->id, "Token id")->required();
  on_run(*revoke, exit_code, [&server, t] {
    return call(server, "DELETE", "/api/v1/tokens/" + t->id, "",
                [t](const common::Json&) { std::cout << "revoked token " << t->id << "\n"; });
  });

  // trust
  auto* trust = app.add_subcommand("trust", "The server's trust root: show, upload (initial or rotated); its report key");
  trust->require_subcommand(1);
  auto* trust_show = trust->add_subcommand("show", "Print the current root envelope");
  on_run(*trust_show, exit_code, [&server] {
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    auto response = client->request("GET", "/api/v1/trust");
    if (!response) return report_failure(response.error());
    if (!response->ok()) return report_api_error(*response);
    std::cout << response->body;
    return static_cast<int>(kExitOk);
  });
  auto key_out = std::make_shared<std::string>();
  auto* report_key = trust->add_subcommand(
      "report-key", "The public key the server signs compliance reports with (PEM), for `compliance verify`");
  report_key->add_option("-o,--output", *key_out, "Write it to this file instead of standard output");
  on_run(*report_key, exit_code, [&server, key_out] {
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    auto response = client->request("GET", "/api/v1/trust/report-key");
    if (!response) return report_failure(response.error());
    if (!response->ok()) return report_api_error(*response);
    if (key_out->empty()) {
      std::cout << response->body;
      return static_cast<int>(kExitOk);
    }
    if (auto ok = common::write_file_atomic(*key_out, response->body, 0644); !ok) return report_failure(ok.error());
    std::cout << "wrote " << *key_out << " (compare its key id with the one `flotilla-server init` printed)\n";
    return static_cast<int>(kExitOk);
  });
  auto root_file = std::make_shared<std::string>();
  auto* trust_upload = trust->add_subcommand(
      "upload", "Set the root (first time) or rotate to version N+1 (checked against the current one)");
  trust_upload->add_option("ROOT", *root_file, "root.json")->required()->check(CLI::ExistingFile);
  on_run(*trust_upload, exit_code, [&server, root_file] {
    auto body = common::read_file(*root_file, 1 << 20);
    if (!body) return report_failure(body.error());
    auto client = connect(server);
    if (!client) return report_failure(client.error());
    auto response = client->request("PUT", "/api/v1/trust", *body);
    if (!response) return report_failure(response.error());
    if (!response->ok()) return report_api_error(*response);
    std::cout << "trust root is now version " << json_text(response->json(), "version") << "\n";
    return static_cast<int>(kExitOk);
  });
}

}  // namespace flotilla::cli
