// A bundle download that survives power cuts (docs/agent.md, "Power
// cuts"). While the first payload — a raw image — streams into its slot,
// the agent keeps a resume point: the bundle's bytes before that image's
// data (a few KiB: the signed manifest and tar headers) in the state
// directory, and how many of the image's bytes are durable in the slot.
// After a cut, the bundle is read again from what the device holds — the
// kept bytes, then the slot's — and the download continues with Range
// from there. The reader verifies every byte again as always (the kept
// and slot bytes are hashed like downloaded ones), so a resume point can
// make an install faster, never make it accept anything else.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "artifacts/stream.hpp"
#include "client/config.hpp"
#include "client/state_store.hpp"

namespace flotilla::client {

struct ResumePoint {
  std::int64_t deployment_id = 0;
  std::string file_sha256;        // the offered bundle
  std::string target_slot;        // "a" or "b": the side written
  std::string slot_class;         // the first payload's slot class
  std::uint64_t data_offset = 0;  // where its data starts in the bundle
  std::uint64_t written = 0;      // its first bytes durable in the slot
};

// The kept point, if any (a malformed one reads as none).
common::Result<std::optional<ResumePoint>> load_resume_point(StateStore& state);
common::Status clear_resume_point(StateStore& state, const std::filesystem::path& state_dir);

// What Agent::install reports while it streams, so a download can resume.
class InstallCheckpoints {
 public:
  virtual ~InstallCheckpoints() = default;
  // The first payload's bytes already in its slot (a resumed download):
  // they arrive again from the slot itself and are not written again.
  virtual std::uint64_t already_in_slot() const = 0;
  // Before each payload's sink opens; `data_offset` as the reader gives it.
  virtual void payload_starts(std::size_t index, const artifacts::Payload& payload,
                              std::optional<std::uint64_t> data_offset) = 0;
  // The first payload's first `bytes` are durable in its slot.
  virtual void durable(std::uint64_t bytes) = 0;
  // The bytes stopped coming (network, server): the install was
  // interrupted, the update did not fail.
  virtual bool source_failed() const = 0;
};

// Passes a source through, keeping its first bytes (the kept prefix comes
// from them: a signed manifest and tar headers) until stop_keeping() or
// kMaxKept, and noting whether it failed.
class RecordingSource final : public artifacts::ByteSource {
 public:
  static constexpr std::size_t kMaxKept = 2 << 20;
  explicit RecordingSource(artifacts::ByteSource& inner) : inner_(inner) {}
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override;
  const std::string& head() const { return head_; }
  // The prefix is known (or cannot be used): no more bytes are kept.
  void stop_keeping() {
    keeping_ = false;
    std::string().swap(head_);
  }
  bool failed() const { return failed_; }

 private:
  artifacts::ByteSource& inner_;
  std::string head_;
  bool keeping_ = true;
  bool failed_ = false;
};

// The bundle's bytes from a resume point: the kept prefix, the slot's
// first `written` bytes, then `rest` (the download from data_offset + written).
class ResumedSource final : public artifacts::ByteSource {
 public:
  static common::Result<std::unique_ptr<ResumedSource>> open(const std::filesystem::path& prefix,
                                                             const std::filesystem::path& slot, std::uint64_t written,
                                                             std::unique_ptr<artifacts::ByteSource> rest);
  ~ResumedSource() override;
  common::Result<std::size_t> read(std::span<std::uint8_t> buffer) override;
  // Reading the kept bytes or the slot failed: this point cannot be used.
  bool local_failed() const { return local_failed_; }

 private:
  ResumedSource(std::string prefix, int slot_fd, std::uint64_t written, std::unique_ptr<artifacts::ByteSource> rest)
      : prefix_(std::move(prefix)), slot_fd_(slot_fd), written_(written), rest_(std::move(rest)) {}
  std::string prefix_;
  std::size_t prefix_at_ = 0;
  int slot_fd_;
  std::uint64_t written_;
  std::uint64_t slot_at_ = 0;
  std::unique_ptr<artifacts::ByteSource> rest_;
  bool local_failed_ = false;
};

// Keeps the resume point of one download as the install reports progress.
class ResumeRecorder final : public InstallCheckpoints {
 public:
  // `base`: deployment, bundle and target side; `base.written` bytes are
  // in the slot already when this download resumes one.
  ResumeRecorder(StateStore& state, std::filesystem::path state_dir, ResumePoint base, RecordingSource& recording)
      : state_(state), state_dir_(std::move(state_dir)), point_(std::move(base)), recording_(recording),
        already_(point_.written) {}
  std::uint64_t already_in_slot() const override { return already_; }
  void payload_starts(std::size_t index, const artifacts::Payload& payload, std::optional<std::uint64_t> data_offset) override;
  void durable(std::uint64_t bytes) override;
  bool source_failed() const override { return recording_.failed(); }

 private:
  StateStore& state_;
  std::filesystem::path state_dir_;
  ResumePoint point_;
  RecordingSource& recording_;
  std::uint64_t already_;
  bool keeping_ = false;  // the first payload is a raw image with a known offset
};

// The kept prefix: state_dir/download-prefix.
std::filesystem::path resume_prefix_path(const std::filesystem::path& state_dir);

}  // namespace flotilla::client
