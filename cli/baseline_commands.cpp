// flotilla baselines apply FILE | list | show NAME | delete NAME
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/command.hpp"
#include "cli/table.hpp"
#include "common/file.hpp"

namespace flotilla::cli {

void add_baseline_commands(CLI::App& app, int& exit_code, const ServerOptions& server) {
  auto* baselines = app.add_subcommand("baselines", "Compliance baselines on the server (docs/policy.md): apply, list, show, delete");
  baselines->require_subcommand(1);
  auto o = std::make_shared<std::string>();
  auto* apply = baselines->add_subcommand("apply", "Create or replace the baseline a file describes (named by its \"name\")");
  apply->add_option("FILE", *o, "Baseline JSON")->required();
  on_run(*apply, exit_code, [&server, o]() -> int {
    auto text = common::read_file(*o, 1 << 20);
    if (!text) return report_failure(text.error());
    auto doc = common::parse_json_strict(*text);
    if (!doc) return report_failure(doc.error().with_context(*o));
    if (!doc->is_object() || !doc->contains("name") || !(*doc)["name"].is_string()) {
      return report_failure(common::Error(common::Errc::kBadField, *o + ": /name: the baseline names itself with a string"));
    }
    std::string name = (*doc)["name"].get<std::string>();
    return call(server, "PUT", "/api/v1/baselines/" + name, *text, [&name](const common::Json& j) {
      std::cout << "baseline " << name << " applied (" << j["document"]["rules"].size() << " rule(s))\n";
    });
  });
  auto* list = baselines->add_subcommand("list", "List baselines");
  on_run(*list, exit_code, [&server] {
    return call(server, "GET", "/api/v1/baselines", "", [](const common::Json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& b : j["baselines"]) {
        rows.push_back({json_text(b, "name"), std::to_string(b["document"].value("rules", common::Json::array()).size()),
                        json_text(b, "updated_by"), json_text(b, "updated_at")});
      }
      print_table(std::cout, {"NAME", "RULES", "BY", "UPDATED"}, rows);
    });
  });
  auto* show = baselines->add_subcommand("show", "Print a baseline's document");
  show->add_option("NAME", *o, "Baseline name")->required();
  on_run(*show, exit_code, [&server, o] {
    return call(server, "GET", "/api/v1/baselines/" + *o, "",
                [](const common::Json& j) { std::cout << j["document"].dump(2) << "\n"; });
  });
  auto* remove = baselines->add_subcommand("delete", "Delete a baseline");
  remove->add_option("NAME", *o, "Baseline name")->required();
  on_run(*remove, exit_code, [&server, o] {
    return call(server, "DELETE", "/api/v1/baselines/" + *o, "",
                [o](const common::Json&) { std::cout << "baseline " << *o << " deleted\n"; });
  });
}

}  // namespace flotilla::cli
