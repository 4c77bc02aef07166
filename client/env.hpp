// What the agent takes from the device around it, behind one seam
// (LevelDB's Env is the model): the clocks, the instants where a power cut
// matters, each download's bytes, the slot's writes and syncs, and the
// helper programs it runs. The agent uses system_env(); tests derive from
// Env to cut the power, drop connections or fail a program at an exact,
// seeded point (tests/client/fault_env.hpp), and the fleet simulator to
// give a device a wrong clock or a bad link.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "client/process.hpp"
#include "common/time.hpp"

namespace flotilla::client {

class Env {
 public:
  virtual ~Env() = default;

  // The device's wall clock (timestamps of states, events and requests).
  virtual common::TimePoint now();
  // The monotonic clock that paces slot checkpoints.
  virtual std::chrono::steady_clock::time_point steady_now();

  // A step is durable (a persisted stage, or one such as module_installed
  // or writing_slot): the instant a power cut tests. The system's Env
  // kills the agent here when FLOTILLA_AGENT_FAULT=crash-after:<point>.
  virtual void reached(std::string_view point);
  // A fault that is not a crash (FLOTILLA_AGENT_FAULT=<name>), e.g.
  // "lose-slot-write": the slot loses a byte after its sync, as failing
  // flash does.
  virtual bool requested(std::string_view fault);

  // A download has reached `offset` bytes of the bundle.
  virtual void downloaded(std::uint64_t /*offset*/) {}
  // Whether a download's connection number `connection` (0: the first)
  // drops now, about to reach `offset` bytes of the bundle (the download's
  // resume path takes over).
  virtual bool drops_connection(int /*connection*/, std::uint64_t /*offset*/) { return false; }

  // The slot `path` was written at [offset, offset + size); synced: all of
  // it written so far is durable. Called from the slot's writer thread.
  virtual void slot_written(const std::filesystem::path& /*path*/, std::uint64_t /*offset*/, std::size_t /*size*/) {}
  virtual void slot_synced(const std::filesystem::path& /*path*/) {}

  // Runs a helper program (client/process.hpp).
  virtual common::Result<ProcessResult> run(const std::vector<std::string>& argv, std::chrono::seconds timeout);
};

// The real device: system clocks, real programs, faults only as
// FLOTILLA_AGENT_FAULT asks.
Env& system_env();

}  // namespace flotilla::client
