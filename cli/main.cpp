// flotilla: the operator's and release engineer's command line.
#include <iostream>

#include "cli/command.hpp"

namespace flotilla::cli {

int report_failure(const common::Error& error) {
  std::cerr << "flotilla: error: " << error.describe() << "\n";
  return kExitFailed;
}

int report_usage(const std::string& message) {
  std::cerr << "flotilla: usage: " << message << "\n";
  return kExitUsage;
}

void on_run(CLI::App& command, int& exit_code, CommandBody body) {
  command.callback([&exit_code, body = std::move(body)] { exit_code = body(); });
}

}  // namespace flotilla::cli

int main(int argc, char** argv) {
  using namespace flotilla::cli;
  CLI::App app{"Flotilla: signed OS, driver and firmware updates for device fleets.\n"
               "Exit codes: 0 success, 1 failure or invalid input, 2 usage error.",
               "flotilla"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flotilla 0.1.0");
  int exit_code = kExitOk;
  ServerOptions server;
  app.add_option("--server", server.server, "Server URL")->envname("FLOTILLA_SERVER")->capture_default_str();
  app.add_option("--token-file", server.token_file, "File holding an API token")->envname("FLOTILLA_TOKEN_FILE");
  app.add_option("--ca-file", server.ca_file, "CA certificate(s) to trust for an https:// server")->envname("FLOTILLA_CA_FILE");
  app.add_flag("--json", server.json, "Print JSON instead of tables (server commands)");
  add_key_commands(app, exit_code);
  add_root_commands(app, exit_code);
  add_bundle_commands(app, exit_code);
  add_server_commands(app, exit_code, server);
  add_audit_commands(app, exit_code, server);
  add_fleet_commands(app, exit_code, server);
  add_policy_commands(app, exit_code);
  add_rollout_commands(app, exit_code, server);
  add_baseline_commands(app, exit_code, server);
  add_compliance_commands(app, exit_code, server);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}
