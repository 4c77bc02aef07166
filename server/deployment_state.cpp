#include "server/deployment_state.hpp"

#include <array>

namespace flotilla::server {
namespace {

// Active states in the order they happen.
constexpr std::array<std::string_view, 6> kActive = {"pending", "offered", "downloading",
                                                     "installing", "rebooting", "verifying"};

int rank(std::string_view state) {
  for (std::size_t i = 0; i < kActive.size(); ++i) {
    if (kActive[i] == state) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

bool is_final_state(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "rolled_back" || state == "timed_out";
}

std::optional<std::string> state_from_device_report(std::string_view reported) {
  if (reported == "committed") return "succeeded";
  if (reported == "failed" || reported == "rolled_back" || is_interruption(reported)) return std::string(reported);
  if (rank(reported) >= 2) return std::string(reported);  // downloading .. verifying
  return std::nullopt;
}

bool can_transition(std::string_view from, std::string_view to) {
  int from_rank = rank(from);
  if (from_rank < 0) return false;  // final states stay final
  // Cut short before anything was activated: taken again from the download.
  if (is_interruption(to)) return from_rank >= 1 && from_rank <= rank("installing");
  if (is_final_state(to)) return to != "succeeded" || from_rank >= 1;
  int to_rank = rank(to);
  return to_rank > from_rank;
}

}  // namespace flotilla::server
