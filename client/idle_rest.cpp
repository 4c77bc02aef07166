#include "client/idle_rest.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flotilla::client {

namespace {

constexpr const char* kWaiterName = "flotilla-agent-wait";

// This executable. After a package upgrade replaced it, the kernel names
// the old inode "PATH (deleted)": the next cycle runs the new agent.
std::optional<std::filesystem::path> own_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return std::nullopt;
  std::string text = path.string();
  constexpr std::string_view kDeleted = " (deleted)";
  if (text.ends_with(kDeleted)) text.resize(text.size() - kDeleted.size());
  return std::filesystem::path(text);
}

}  // namespace

std::optional<std::filesystem::path> find_idle_waiter() {
  auto self = own_executable();
  if (!self) return std::nullopt;
  auto dir = self->parent_path();
  for (const auto& candidate : {dir.parent_path() / "libexec" / "flotilla" / kWaiterName, dir / kWaiterName}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

common::Error rest_in_waiter(const std::filesystem::path& waiter, std::chrono::milliseconds rest,
                             const std::vector<std::string>& agent_args) {
  auto self = own_executable();
  if (!self) return {common::Errc::kIo, "cannot name this executable (/proc/self/exe) to start it again after the rest"};
  std::vector<std::string> args = {waiter.string(), std::to_string(std::max<std::int64_t>(rest.count(), 0)), self->string()};
  args.insert(args.end(), agent_args.begin(), agent_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  return {common::Errc::kIo, "cannot start " + waiter.string() + " to rest between polls: " + std::strerror(errno)};
}

}  // namespace flotilla::client
