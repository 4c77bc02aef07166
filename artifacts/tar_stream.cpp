#include "artifacts/tar_stream.hpp"

#include <exception>
#include <utility>
#include <vector>

#include "artifacts/archive_library.hpp"
#include "artifacts/errors.hpp"

namespace flotilla::artifacts::detail {

namespace {
constexpr std::size_t kReadBufferBytes = 256 << 10;
}

struct TarStream::Impl {
  ByteSource& source;
  // Not zero-filled: only the bytes a read brings are touched, so a small
  // bundle (and each fuzz input) does not pay for a memset and its
  // page faults.
  std::unique_ptr<std::uint8_t[]> buffer{new std::uint8_t[kReadBufferBytes]};
  const ArchiveLibrary* lib = nullptr;  // loaded by open()
  archive* reader = nullptr;
  bool source_ended = false;
  std::optional<common::Error> source_error;
  // An exception from the source (a test's simulated power cut) cannot
  // cross libarchive's C frames: it waits here and is rethrown once
  // libarchive has returned.
  std::exception_ptr source_threw;
  bool opened = false;
  std::int64_t expected_offset = 0;

  explicit Impl(ByteSource& s) : source(s) {}
  ~Impl() {
    if (reader) lib->read_free(reader);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  static la_ssize_t on_read(archive*, void* self_ptr, const void** out) {
    auto* self = static_cast<Impl*>(self_ptr);
    common::Result<std::size_t> n = 0;
    try {
      n = self->source.read(std::span<std::uint8_t>(self->buffer.get(), kReadBufferBytes));
    } catch (...) {
      self->source_threw = std::current_exception();
      return -1;
    }
    if (!n) {
      self->source_error = n.error();
      return -1;
    }
    if (*n == 0) self->source_ended = true;
    *out = self->buffer.get();
    return static_cast<la_ssize_t>(*n);
  }

  // Turns a libarchive failure into an error: the source's own error if it
  // failed, "truncated" if it ended, otherwise libarchive's reason.
  std::unexpected<common::Error> failure(std::string_view what) {
    if (source_threw) std::rethrow_exception(std::exchange(source_threw, nullptr));
    if (source_error) return std::unexpected(source_error->with_context(what));
    if (source_ended) {
      return common::fail(Errc::kTruncated, std::string(what) + ": the bundle ends too early");
    }
    const char* reason = lib->error_string(reader);
    return common::fail(Errc::kBadArchive,
                        std::string(what) + ": " + (reason ? reason : "unreadable archive"));
  }

  common::Status open() {
    auto loaded = archive_library();
    if (!loaded) return common::propagate(loaded, "opening bundle");
    lib = *loaded;
    reader = lib->read_new();
    if (!reader) return common::fail(common::Errc::kIo, "opening bundle: libarchive is out of memory");
    // Only tar, and only the three compressions the format allows: every
    // other format libarchive knows is attack surface we do not need.
    lib->support_format_tar(reader);
    lib->support_filter_zstd(reader);
    lib->support_filter_gzip(reader);
    lib->support_filter_xz(reader);
    if (lib->read_open(reader, this, nullptr, &Impl::on_read, nullptr) != ARCHIVE_OK) {
      return failure("opening bundle");
    }
    opened = true;
    return {};
  }
};

TarStream::TarStream(ByteSource& source) : impl_(std::make_unique<Impl>(source)) {}
TarStream::~TarStream() = default;

common::Result<std::optional<EntryHeader>> TarStream::next() {
  if (!impl_->opened) {
    if (auto ok = impl_->open(); !ok) return std::unexpected(ok.error());
  }
  archive_entry* entry = nullptr;
  const ArchiveLibrary& lib = *impl_->lib;
  int status = lib.read_next_header(impl_->reader, &entry);
  if (status == ARCHIVE_EOF) return std::optional<EntryHeader>{};
  // Warnings count as failures: a header libarchive had to guess about is
  // not one we want to trust.
  if (status != ARCHIVE_OK) return impl_->failure("reading entry header");
  EntryHeader header;
  const char* path = lib.entry_pathname(entry);
  header.path = path ? path : "";
  header.regular = lib.entry_filetype(entry) == AE_IFREG && lib.entry_hardlink(entry) == nullptr &&
                   lib.entry_symlink(entry) == nullptr && lib.entry_sparse_count(entry) == 0;
  header.size_known = lib.entry_size_is_set(entry) != 0 && lib.entry_size(entry) >= 0;
  header.size = header.size_known ? static_cast<std::uint64_t>(lib.entry_size(entry)) : 0;
  // Uncompressed (one filter: the input itself), the tar reader has
  // consumed exactly the headers: its position is where the data starts.
  if (lib.filter_count(impl_->reader) == 1) {
    header.data_offset = static_cast<std::uint64_t>(lib.filter_bytes(impl_->reader, 0));
  }
  impl_->expected_offset = 0;
  return std::optional<EntryHeader>{std::move(header)};
}

common::Result<std::span<const std::uint8_t>> TarStream::read_block() {
  const void* data = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  if (!impl_->opened) return common::fail(Errc::kBadArchive, "reading entry data before an entry");
  int status = impl_->lib->read_data_block(impl_->reader, &data, &size, &offset);
  if (status == ARCHIVE_EOF) return std::span<const std::uint8_t>{};
  if (status != ARCHIVE_OK) return impl_->failure("reading entry data");
  if (offset != impl_->expected_offset) {
    return common::fail(Errc::kNotRegularFile, "entry data has holes (a sparse file)");
  }
  impl_->expected_offset += static_cast<std::int64_t>(size);
  return std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data), size);
}

}  // namespace flotilla::artifacts::detail
