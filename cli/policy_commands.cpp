// flotilla policy validate (simulate: simulate_command.cpp)
#include <iostream>

#include "cli/command.hpp"
#include "common/file.hpp"
#include "policy/baseline.hpp"
#include "policy/rollout_policy.hpp"

namespace flotilla::cli {

void add_policy_commands(CLI::App& app, int& exit_code) {
  auto* policy = app.add_subcommand("policy", "Rollout policies: validate, simulate");
  policy->require_subcommand(1);
  struct Options {
    std::vector<std::string> files;
    bool baseline = false;
  };
  auto o = std::make_shared<Options>();
  auto* validate = policy->add_subcommand(
      "validate", "Check policy files; every error is listed with its JSON Pointer. Exit 0 all valid, 1 otherwise");
  validate->add_option("FILE", o->files, "Rollout policy JSON files")->required();
  validate->add_flag("--baseline", o->baseline, "The files are compliance baselines, not rollout policies");
  on_run(*validate, exit_code, [o] {
    int result = kExitOk;
    for (const auto& file : o->files) {
      auto text = common::read_file(file, 1 << 20);
      if (!text) {
        result = report_failure(text.error());
        continue;
      }
      auto doc = common::parse_json_strict(*text);
      if (!doc) {
        std::cerr << file << ": " << doc.error().message() << "\n";
        result = kExitFailed;
        continue;
      }
      auto errors = o->baseline ? [&] {
        auto parsed = policy::parse_baseline(*doc);
        return parsed ? policy::PolicyErrors{} : parsed.error();
      }()
                                : [&] {
                                    auto parsed = policy::parse_rollout_policy(*doc);
                                    return parsed ? policy::PolicyErrors{} : parsed.error();
                                  }();
      if (errors.empty()) {
        std::cout << file << ": valid\n";
        continue;
      }
      result = kExitFailed;
      std::cerr << file << ": " << errors.size() << " error(s)\n";
      for (const auto& e : errors) std::cerr << "  " << (e.pointer.empty() ? "(document)" : e.pointer) << ": " << e.message << "\n";
    }
    return result;
  });
  add_simulate_command(*policy, exit_code);
}

}  // namespace flotilla::cli
