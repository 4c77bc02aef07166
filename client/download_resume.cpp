#include "client/download_resume.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/log.hpp"

namespace flotilla::client {
namespace {

constexpr const char* kSetting = "download_resume";

common::Json to_json(const ResumePoint& p) {
  return {{"deployment_id", p.deployment_id}, {"file_sha256", p.file_sha256}, {"target_slot", p.target_slot},
          {"slot_class", p.slot_class},       {"data_offset", p.data_offset}, {"written", p.written}};
}

}  // namespace

std::filesystem::path resume_prefix_path(const std::filesystem::path& state_dir) { return state_dir / "download-prefix"; }

common::Result<std::optional<ResumePoint>> load_resume_point(StateStore& state) {
  auto text = state.setting(kSetting);
  if (!text) return std::unexpected(text.error());
  if (!*text || (*text)->empty()) return std::optional<ResumePoint>{};
  auto json = common::Json::parse(**text, nullptr, false);
  try {
    ResumePoint p{json.at("deployment_id").get<std::int64_t>(), json.at("file_sha256").get<std::string>(),
                  json.at("target_slot").get<std::string>(),    json.at("slot_class").get<std::string>(),
                  json.at("data_offset").get<std::uint64_t>(),  json.at("written").get<std::uint64_t>()};
    if (!common::is_sha256_hex(p.file_sha256) || (p.target_slot != "a" && p.target_slot != "b")) {
      return std::optional<ResumePoint>{};
    }
    return std::optional<ResumePoint>{std::move(p)};
  } catch (const common::Json::exception&) {
    return std::optional<ResumePoint>{};  // written by no version of this agent: ignored
  }
}

common::Status clear_resume_point(StateStore& state, const std::filesystem::path& state_dir) {
  std::error_code ec;
  std::filesystem::remove(resume_prefix_path(state_dir), ec);
  return state.set_setting(kSetting, "");
}

common::Result<std::size_t> RecordingSource::read(std::span<std::uint8_t> buffer) {
  auto n = inner_.read(buffer);
  if (!n) {
    failed_ = true;
    return n;
  }
  if (keeping_ && head_.size() < kMaxKept) {
    std::size_t keep = std::min(*n, kMaxKept - head_.size());
    head_.append(reinterpret_cast<const char*>(buffer.data()), keep);
  }
  return n;
}

common::Result<std::unique_ptr<ResumedSource>> ResumedSource::open(const std::filesystem::path& prefix,
                                                                   const std::filesystem::path& slot, std::uint64_t written,
                                                                   std::unique_ptr<artifacts::ByteSource> rest) {
  auto kept = common::read_file(prefix, RecordingSource::kMaxKept);
  if (!kept) return std::unexpected(kept.error().with_context("the kept start of the bundle"));
  int fd = ::open(slot.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::fail(common::Errc::kIo, "cannot read " + slot.string() + ": " + std::strerror(errno));
  return std::unique_ptr<ResumedSource>(new ResumedSource(std::move(*kept), fd, written, std::move(rest)));
}

ResumedSource::~ResumedSource() {
  if (slot_fd_ >= 0) ::close(slot_fd_);
}

common::Result<std::size_t> ResumedSource::read(std::span<std::uint8_t> buffer) {
  if (prefix_at_ < prefix_.size()) {
    std::size_t n = std::min(buffer.size(), prefix_.size() - prefix_at_);
    std::memcpy(buffer.data(), prefix_.data() + prefix_at_, n);
    prefix_at_ += n;
    return n;
  }
  if (slot_at_ < written_) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), written_ - slot_at_));
    ssize_t n = 0;
    do {
      n = ::pread(slot_fd_, buffer.data(), want, static_cast<off_t>(slot_at_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      local_failed_ = true;
      return common::fail(common::Errc::kIo, "cannot read back the slot's first bytes for a resumed download");
    }
    slot_at_ += static_cast<std::uint64_t>(n);
    return static_cast<std::size_t>(n);
  }
  return rest_->read(buffer);
}

void ResumeRecorder::payload_starts(std::size_t index, const artifacts::Payload& payload,
                                    std::optional<std::uint64_t> data_offset) {
  if (index != 0) return;
  keeping_ = false;
  // Only a raw image first, in an uncompressed bundle whose bytes before
  // it were kept: anything else restarts its download after a cut.
  bool usable = payload.type == artifacts::PayloadType::kRawImage && data_offset && *data_offset <= recording_.head().size();
  std::string prefix = usable && already_ == 0 ? recording_.head().substr(0, *data_offset) : std::string();
  recording_.stop_keeping();
  if (!usable) return;
  if (already_ > 0) {
    keeping_ = point_.data_offset == *data_offset && point_.slot_class == payload.slot;
    return;
  }
  point_.data_offset = *data_offset;
  point_.slot_class = payload.slot;
  auto kept = common::write_file_atomic(resume_prefix_path(state_dir_), prefix, 0600);
  if (!kept) {
    common::log(common::LogLevel::kWarn, "no resume point for this download: " + kept.error().describe());
    return;
  }
  keeping_ = true;
}

void ResumeRecorder::durable(std::uint64_t bytes) {
  if (!keeping_) return;
  point_.written = bytes;
  if (auto ok = state_.set_setting(kSetting, to_json(point_).dump()); !ok) {
    common::log(common::LogLevel::kWarn, "cannot keep the download's resume point: " + ok.error().describe());
  }
}

}  // namespace flotilla::client
