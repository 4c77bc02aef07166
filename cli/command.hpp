// Shared pieces of the `flotilla` command line: exit codes, error output,
// and how each command group registers itself.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "common/error.hpp"

namespace flotilla::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,  // the operation failed or the input is invalid (e.g. a bad bundle)
  kExitUsage = 2,   // the command line itself is wrong
};

// Prints "flotilla: error: <chain>" to stderr and returns kExitFailed.
int report_failure(const common::Error& error);
// Prints "flotilla: usage: <message>" to stderr and returns kExitUsage.
int report_usage(const std::string& message);

// A command's body runs after parsing; its return value is the exit code.
using CommandBody = std::function<int()>;
// Registers `body` to run when `command` was chosen; the result lands in
// `exit_code`.
void on_run(CLI::App& command, int& exit_code, CommandBody body);

// Where the server is and how to authenticate: global options, with
// FLOTILLA_SERVER and FLOTILLA_TOKEN_FILE as defaults.
struct ServerOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string token_file;
  std::string ca_file;  // CA bundle for an https:// server with its own CA
  bool json = false;
};

void add_key_commands(CLI::App& app, int& exit_code);
void add_root_commands(CLI::App& app, int& exit_code);
void add_bundle_commands(CLI::App& app, int& exit_code);
void add_server_commands(CLI::App& app, int& exit_code, const ServerOptions& server);
// `bundles sync-mirror`, under the bundles group.
void add_mirror_command(CLI::App& bundles_group, int& exit_code, const ServerOptions& server);
void add_audit_commands(CLI::App& app, int& exit_code, const ServerOptions& server);
void add_fleet_commands(CLI::App& app, int& exit_code, const ServerOptions& server);
// `devices gateway` and `devices move` (field gateways, docs/gateway.md).
void add_gateway_commands(CLI::App& devices, int& exit_code, const ServerOptions& server);
void add_policy_commands(CLI::App& app, int& exit_code);
// `policy simulate`, under the policy group.
void add_simulate_command(CLI::App& policy_group, int& exit_code);
void add_rollout_commands(CLI::App& app, int& exit_code, const ServerOptions& server);
void add_baseline_commands(CLI::App& app, int& exit_code, const ServerOptions& server);
void add_compliance_commands(CLI::App& app, int& exit_code, const ServerOptions& server);

}  // namespace flotilla::cli
