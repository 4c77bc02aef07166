// Faults injected into the agent in process, at exact points chosen from a
// seed (LevelDB's fault-injection Env is the model): the power goes off
// after the Nth time a step is reached or when a download reaches a byte
// offset, and the slot then loses what was written since its last sync;
// helper programs can fail to start. A cut is a PowerCut thrown through
// the agent: the test drops every object of that "boot", scrambles the
// unsynced slot bytes, and starts the agent again on what is on disk.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "client/env.hpp"

namespace flotilla::testing {

struct PowerCut {
  std::string where;
};

class FaultEnv final : public client::Env {
 public:
  explicit FaultEnv(std::uint64_t seed) : random_(seed) {}

  // Each plan is carried out once. The power goes off right after `point`
  // is reached for the `occurrence`th time in a boot.
  void cut_after(std::string point, int occurrence = 1) { cut_point_ = {std::move(point), occurrence}; }
  // The power goes off when a download has read `offset` bytes of the bundle.
  void cut_at_offset(std::uint64_t offset) { cut_offset_ = offset; }
  // The `nth` helper program run in this boot (1: the first) cannot start.
  void fail_run(int nth) { fail_run_ = nth; }
  // The next boot: occurrences and runs are counted from zero again.
  void reboot();

  // After a cut: every slot byte written since that slot's last sync
  // becomes random, as on flash that lost power mid-write.
  void lose_unsynced_writes();

  // Every point reached, in order, since the env was made.
  const std::vector<std::string>& points() const { return points_; }
  std::uint64_t furthest_offset() const { return furthest_offset_; }

  // Each reading is a second later: the slot checkpoints at each MiB,
  // whatever this machine's speed.
  std::chrono::steady_clock::time_point steady_now() override { return steady_ += std::chrono::seconds(1); }
  void reached(std::string_view point) override;
  bool requested(std::string_view) override { return false; }
  void downloaded(std::uint64_t offset) override;
  void slot_written(const std::filesystem::path& path, std::uint64_t offset, std::size_t size) override;
  void slot_synced(const std::filesystem::path& path) override;
  common::Result<client::ProcessResult> run(const std::vector<std::string>& argv, std::chrono::seconds timeout) override;

 private:
  std::mt19937_64 random_;
  std::optional<std::pair<std::string, int>> cut_point_;
  std::optional<std::uint64_t> cut_offset_;
  std::optional<int> fail_run_;
  std::map<std::string, int> reached_;
  int runs_ = 0;
  std::vector<std::string> points_;
  std::uint64_t furthest_offset_ = 0;
  std::chrono::steady_clock::time_point steady_{};
  std::mutex mutex_;  // the slot's writer thread reports too
  std::map<std::filesystem::path, std::vector<std::pair<std::uint64_t, std::size_t>>> unsynced_;
};

}  // namespace flotilla::testing
