// Update modules (DESIGN.md §8): executables in the modules dir speaking
// the Mender Update Module v3 protocol in files mode, so existing modules
// (single-file, directory, deb, script, vendor flashers) run unchanged.
//
// The agent places a bundle's module payloads, verified, in
// <workdir>/files/, lays out <workdir>/header/ and tmp/ as the protocol
// says, and calls `<module> <State> <workdir>` through ArtifactInstall,
// NeedsArtifactReboot, ArtifactCommit and Cleanup — or, on failure,
// SupportsRollback, ArtifactRollback, ArtifactFailure and Cleanup.
// A module that needs a reboot (NeedsArtifactReboot: Yes or Automatic) is
// called with ArtifactReboot (Yes), the device reboots, and after it
// ArtifactVerifyReboot decides between ArtifactCommit and the rollback.
#pragma once

#include <filesystem>
#include <string>

#include "artifacts/manifest.hpp"
#include "client/env.hpp"
#include "common/error.hpp"

namespace flotilla::client {

class UpdateModule {
 public:
  UpdateModule(std::filesystem::path executable, std::filesystem::path workdir, Env& env)
      : executable_(std::move(executable)), workdir_(std::move(workdir)), env_(env) {}

  // Lays out version, current_* and header/ for `manifest`; files/ holds
  // the payloads already.
  common::Status prepare(const artifacts::Manifest& manifest, const std::string& device_type);
  // ArtifactInstall and NeedsArtifactReboot: true when a reboot must come
  // before the commit (ArtifactReboot was called for "Yes"). On a failure
  // the module's rollback runs (when it supports one) before the error
  // returns.
  common::Result<bool> install();
  // ArtifactCommit and Cleanup (after a reboot: ArtifactVerifyReboot first).
  common::Status commit(bool rebooted);
  // After an interruption: roll back what may be half-done, then clean up.
  void abandon();
  // The stored workdir and module of an update in flight, if any.
  bool exists() const;

  const std::filesystem::path& workdir() const { return workdir_; }

 private:
  common::Result<std::string> call(const std::string& state);
  void fail_and_clean();

  std::filesystem::path executable_;
  std::filesystem::path workdir_;
  Env& env_;
};

}  // namespace flotilla::client
