// `flotilla-server backup` and `flotilla-server restore` (docs/operations.md).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace flotilla::server::backup {

// Adds both subcommands to `app`; the returned function runs the one that
// was chosen after parsing (its exit code), or returns -1 if neither was.
std::function<int()> add_commands(CLI::App& app);

}  // namespace flotilla::server::backup
