// Child adapters (docs/gateway.md): the executables through which a
// gateway's agent reaches its child devices, one per kind of child (an
// MCU on a serial line, a PLC over Modbus). The protocol is argv, exit
// codes and JSON on stdout, so a shell script can be one:
//
//   ADAPTER list                       {"children": [{"id", "device_type", "identity"?}]}
//   ADAPTER versions CHILD             {"components": {"NAME": {"version", "security_version"}}}
//   ADAPTER install CHILD WORKDIR      payloads in WORKDIR/payloads, WORKDIR/manifest.json;
//                                      may write a percentage to WORKDIR/progress
//   ADAPTER activate CHILD             switch the child to what was installed
//   ADAPTER rollback CHILD             back to what ran before
//
// Exit 0: done. 1: failed (the child refused or broke: a failure).
// 2: the child cannot be reached now (tried again later: interrupted).
// 3: not supported (activate: nothing to do; rollback: cannot).
// A step that runs past its timeout is killed and counts as exit 2;
// any other exit, a signal, or stdout that is not the JSON the step
// owes is the adapter's failure.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "client/env.hpp"
#include "client/state_store.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

namespace flotilla::client {

// How an adapter step ended.
enum class StepOutcome { kDone, kFailed, kUnreachable, kUnsupported };
std::string_view step_outcome_name(StepOutcome outcome);

struct StepResult {
  StepOutcome outcome = StepOutcome::kFailed;
  std::string detail;        // for the log and the event message
  std::string output;        // stdout, when it exited 0
};

struct ChildInfo {
  std::string id;            // the adapter's id for it: [A-Za-z0-9._-]{1,128}
  std::string device_type;
  common::Json identity = common::Json::object();
  std::string adapter;       // the adapter's file name
};

class ChildAdapter {
 public:
  ChildAdapter(std::filesystem::path executable, std::chrono::seconds timeout, Env& env)
      : executable_(std::move(executable)), timeout_(timeout), env_(env) {}
  std::string name() const { return executable_.filename().string(); }

  // The children it reaches now; errors name the adapter and what it printed wrong.
  common::Result<std::vector<ChildInfo>> list();
  // Exit 0 with {"components": {...}} → kDone and the versions.
  StepResult versions(const std::string& child, std::map<std::string, ComponentState>& out);
  StepResult install(const std::string& child, const std::filesystem::path& workdir);
  StepResult activate(const std::string& child);
  StepResult rollback(const std::string& child);

 private:
  StepResult run(const std::vector<std::string>& args);

  std::filesystem::path executable_;
  std::chrono::seconds timeout_;
  Env& env_;
};

// What `list` and `versions` print, checked (pure: fuzzed and unit-tested).
common::Result<std::vector<ChildInfo>> parse_children(std::string_view output, const std::string& adapter);
common::Result<std::map<std::string, ComponentState>> parse_versions(std::string_view output);

// The adapters in `dir`: every regular executable file, by name.
common::Result<std::vector<ChildAdapter>> load_adapters(const std::filesystem::path& dir, std::chrono::seconds timeout,
                                                        Env& env);

}  // namespace flotilla::client
