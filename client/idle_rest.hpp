// Between two polls `flotilla-agent run` rests in flotilla-agent-wait, a
// libc-only program, instead of sleeping with its libraries mapped: it
// execs the waiter (same pid), which execs the agent again when the next
// poll is due. Everything a cycle needs across that gap is in the state
// database; only the backoff travels on the command line.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace flotilla::client {

// The waiter installed with this agent: PREFIX/libexec/flotilla/ beside
// PREFIX/bin/, or the agent's own directory (a build tree). None found:
// the agent sleeps in process.
std::optional<std::filesystem::path> find_idle_waiter();

// Replaces this process with `waiter REST_MS AGENT ARGS...`, AGENT being
// this executable. Returns only when the exec failed.
common::Error rest_in_waiter(const std::filesystem::path& waiter, std::chrono::milliseconds rest,
                             const std::vector<std::string>& agent_args);

}  // namespace flotilla::client
