#include "artifacts/writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "artifacts/errors.hpp"
#include "signing/digest.hpp"
#include "signing/dsse.hpp"

namespace flotilla::artifacts {

using common::fail;
using common::Result;
using common::Status;

namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

class InputFile {
 public:
  static Result<InputFile> open(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(Errc::kIo, path.string() + ": cannot open: " + std::strerror(errno));
    return InputFile(fd, path);
  }
  InputFile(InputFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(other.path_) {}
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Calls `each` with every chunk; returns the bytes read.
  template <class Each>
  Result<std::uint64_t> for_each_chunk(std::vector<std::uint8_t>& buffer, Each&& each) {
    std::uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(Errc::kIo, path_.string() + ": read: " + std::strerror(errno));
      if (n == 0) return total;
      std::span<const std::uint8_t> chunk(buffer.data(), static_cast<std::size_t>(n));
      if (auto ok = each(chunk); !ok) return std::unexpected(ok.error());
      total += chunk.size();
    }
  }

 private:
  InputFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
};

std::unexpected<common::Error> archive_failure(archive* a, std::string_view what) {
  const char* reason = archive_error_string(a);
  return fail(Errc::kIo, std::string(what) + ": " + (reason ? reason : "archive write failed"));
}

Status write_header(archive* a, std::string_view path, std::uint64_t size, time_t mtime) {
  EntryPtr entry(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(entry.get(), std::string(path).c_str());
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_mtime(entry.get(), mtime, 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return archive_failure(a, "writing entry header");
  return {};
}

Status write_data(archive* a, std::span<const std::uint8_t> bytes) {
  la_ssize_t n = archive_write_data(a, bytes.data(), bytes.size());
  if (n < 0 || static_cast<std::size_t>(n) != bytes.size()) return archive_failure(a, "writing entry data");
  return {};
}

Status validate_spec(const BundleSpec& spec) {
  if (spec.inputs.empty()) return fail(Errc::kBadInput, "a bundle needs at least one payload");
  if (spec.inputs.size() > kMaxPayloads) {
    return fail(Errc::kBadInput, "a bundle holds at most " + std::to_string(kMaxPayloads) + " payloads");
  }
  return {};
}

}  // namespace

Result<WrittenBundle> write_bundle(const BundleSpec& spec,
                                   const std::vector<const signing::PrivateKey*>& keys,
                                   const std::filesystem::path& out,
                                   const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  if (auto ok = validate_spec(spec); !ok) return std::unexpected(ok.error());
  if (keys.empty()) return fail(Errc::kBadInput, "a bundle needs at least one signing key");

  std::uint64_t total = 0;
  for (const auto& input : spec.inputs) {
    std::error_code ec;
    auto size = std::filesystem::file_size(input.source, ec);
    if (ec) return fail(Errc::kIo, input.source.string() + ": " + ec.message());
    total += size;
  }
  total *= 2;
  std::uint64_t done = 0;
  auto report = [&](std::size_t n) {
    done += n;
    if (progress) progress(done, total);
  };

  // Pass 1: sizes and digests, which the manifest (the first entry) needs.
  std::vector<std::uint8_t> buffer(kChunkBytes);
  Manifest manifest = spec.manifest;
  manifest.payloads.clear();
  for (const auto& input : spec.inputs) {
    auto file = InputFile::open(input.source);
    if (!file) return std::unexpected(file.error());
    signing::Sha256 hasher;
    auto size = file->for_each_chunk(buffer, [&](std::span<const std::uint8_t> chunk) -> Status {
      hasher.update(chunk);
      report(chunk.size());
      return {};
    });
    if (!size) return std::unexpected(size.error());
    Payload payload = input.payload;
    payload.size = *size;
    payload.sha256 = hasher.finish_hex();
    manifest.payloads.push_back(std::move(payload));
  }
  // Round-trip through the parser: the writer must never sign a manifest
  // the reader would refuse.
  std::string manifest_text = serialize_manifest(manifest);
  auto checked = parse_manifest(common::as_bytes(manifest_text));
  if (!checked) return fail(Errc::kBadInput, checked.error().message());
  auto envelope = signing::sign_envelope(signing::kManifestType, common::as_bytes(manifest_text), keys);
  if (!envelope) return std::unexpected(envelope.error());
  std::string envelope_text = signing::serialize_envelope(*envelope);

  // Pass 2: the archive, into a temporary file beside `out`.
  std::filesystem::path temp = out;
  temp += ".partial";
  ArchivePtr writer(archive_write_new(), &archive_write_free);
  archive* a = writer.get();
  archive_write_set_format_pax_restricted(a);
  if (spec.compression == Compression::kZstd && archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
    return archive_failure(a, "enabling zstd");
  }
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open_filename(a, temp.c_str()) != ARCHIVE_OK) {
    return archive_failure(a, temp.string());
  }
  auto cleanup = [&](const common::Error& error) -> Result<WrittenBundle> {
    writer.reset();
    std::filesystem::remove(temp);
    return std::unexpected(error);
  };
  time_t mtime = std::chrono::system_clock::to_time_t(manifest.created);
  if (auto ok = write_header(a, "manifest.dsse.json", envelope_text.size(), mtime); !ok) return cleanup(ok.error());
  if (auto ok = write_data(a, common::as_bytes(envelope_text)); !ok) return cleanup(ok.error());

  for (std::size_t i = 0; i < spec.inputs.size(); ++i) {
    const Payload& payload = manifest.payloads[i];
    if (auto ok = write_header(a, "payloads/" + payload.name, payload.size, mtime); !ok) {
      return cleanup(ok.error());
    }
    auto file = InputFile::open(spec.inputs[i].source);
    if (!file) return cleanup(file.error());
    signing::Sha256 hasher;
    auto size = file->for_each_chunk(buffer, [&](std::span<const std::uint8_t> chunk) -> Status {
      hasher.update(chunk);
      report(chunk.size());
      return write_data(a, chunk);
    });
    if (!size) return cleanup(size.error());
    if (*size != payload.size || hasher.finish_hex() != payload.sha256) {
      return cleanup(common::Error(Errc::kIo, spec.inputs[i].source.string() +
                                                  ": changed while it was being bundled"));
    }
  }
  if (archive_write_close(a) != ARCHIVE_OK) return cleanup(archive_failure(a, "finishing archive").error());
  writer.reset();
  {
    int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, out, ec);
  if (ec) return cleanup(common::Error(Errc::kIo, out.string() + ": " + ec.message()));

  return WrittenBundle{std::move(manifest), signing::sha256_hex(envelope->payload)};
}

}  // namespace flotilla::artifacts
