#include "cli/progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace flotilla::cli {

ProgressBar::ProgressBar(std::string label, std::uint64_t min_total_bytes)
    : label_(std::move(label)), min_total_(min_total_bytes), enabled_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputc('\n', stderr);
}

void ProgressBar::update(std::uint64_t done, std::uint64_t total) {
  if (!enabled_ || total < min_total_) return;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second, and always at the end.
  if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %3d%% %llu/%llu MiB", label_.c_str(), bar.c_str(),
               static_cast<int>(done * 100 / total), static_cast<unsigned long long>(done >> 20),
               static_cast<unsigned long long>(total >> 20));
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace flotilla::cli
