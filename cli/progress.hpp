// A one-line progress bar on stderr, drawn only when stderr is a terminal
// and the work is large enough to be worth watching.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace flotilla::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, std::uint64_t min_total_bytes = 16 << 20);
  ~ProgressBar();
  void update(std::uint64_t done, std::uint64_t total);

 private:
  std::string label_;
  std::uint64_t min_total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace flotilla::cli
