#include "tests/support/fleet_sim_process.hpp"

#include <chrono>
#include <csignal>
#include <thread>

#include "tests/support/fixtures.hpp"
#include "tests/support/server_process.hpp"

namespace flotilla::testing {

FleetSimProcess::FleetSimProcess(const std::string& binary, const std::filesystem::path& dir, const std::string& args)
    : dir_(dir) {
  std::string command = binary + " --dir '" + (dir / "fleet").string() + "' --json " + args + " > '" +
                        (dir / "sim.json").string() + "' 2> '" + (dir / "sim.err").string() + "' & echo $! > '" +
                        (dir / "sim.pid").string() + "'";
  if (run_shell(command) == 0) pid_ = std::stoi(read_text(dir / "sim.pid"));
}

common::Json FleetSimProcess::finish() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300 && ::kill(pid_, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pid_ = -1;
  }
  return common::Json::parse(read_text(dir_ / "sim.json"), nullptr, false);
}

std::string FleetSimProcess::errors() const { return read_text(dir_ / "sim.err"); }

}  // namespace flotilla::testing
