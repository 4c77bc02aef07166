// Commands for field gateways (docs/gateway.md): whether a device may
// speak for children, and moving a child to another gateway — the only
// way a child changes gateway.
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/command.hpp"

namespace flotilla::cli {

void add_gateway_commands(CLI::App& devices, int& exit_code, const ServerOptions& server) {
  struct Options {
    std::string id, gateway;
    bool allow = false, deny = false;
  };
  auto o = std::make_shared<Options>();
  auto* gateway = devices.add_subcommand("gateway", "Allow or deny a device to speak for child devices (a field gateway)");
  gateway->add_option("ID", o->id, "Device id")->required();
  auto* allow = gateway->add_flag("--allow", o->allow, "It may enroll children and report for them");
  auto* deny = gateway->add_flag("--deny", o->deny, "It may not (its children stay, until moved)");
  allow->excludes(deny);
  on_run(*gateway, exit_code, [&server, o] {
    if (o->allow == o->deny) return report_usage("say --allow or --deny");
    return call(server, "PUT", "/api/v1/devices/" + url_encode(o->id) + "/gateway", common::Json{{"allowed", o->allow}}.dump(),
                [](const common::Json& j) {
                  std::cout << json_text(j, "id") << (j.value("gateway", false) ? " may" : " may not") << " speak for children\n";
                });
  });
  auto* move = devices.add_subcommand("move", "Move a child device to another gateway (clears orphaned; audited)");
  move->add_option("ID", o->id, "The child's device id")->required();
  move->add_option("--gateway", o->gateway, "The gateway's device id")->required();
  on_run(*move, exit_code, [&server, o] {
    return call(server, "POST", "/api/v1/devices/" + url_encode(o->id) + "/move", common::Json{{"gateway", o->gateway}}.dump(),
                [](const common::Json& j) { std::cout << json_text(j, "id") << " now belongs to gateway " << json_text(j, "parent") << "\n"; });
  });
}

}  // namespace flotilla::cli
