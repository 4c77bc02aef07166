#include "artifacts/archive_library.hpp"

#include <dlfcn.h>

#include <mutex>
#include <optional>
#include <string>

#include "artifacts/errors.hpp"

namespace flotilla::artifacts::detail {

namespace {

// Debian 12's libarchive13; the SONAME the headers we build with belong to.
constexpr const char* kLibrary = "libarchive.so.13";

common::Result<ArchiveLibrary> load() {
  void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return common::fail(common::Errc::kIo, std::string("cannot load ") + kLibrary + " to read bundles (install the libarchive13 package)" +
                                               (why ? std::string(": ") + why : std::string()));
  }
  ArchiveLibrary lib{};
  std::string missing;
  auto resolve = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
    if (!fn && missing.empty()) missing = name;
  };
  resolve(lib.read_new, "archive_read_new");
  resolve(lib.read_free, "archive_read_free");
  resolve(lib.support_format_tar, "archive_read_support_format_tar");
  resolve(lib.support_filter_zstd, "archive_read_support_filter_zstd");
  resolve(lib.support_filter_gzip, "archive_read_support_filter_gzip");
  resolve(lib.support_filter_xz, "archive_read_support_filter_xz");
  resolve(lib.read_open, "archive_read_open");
  resolve(lib.read_next_header, "archive_read_next_header");
  resolve(lib.read_data_block, "archive_read_data_block");
  resolve(lib.error_string, "archive_error_string");
  resolve(lib.filter_count, "archive_filter_count");
  resolve(lib.filter_bytes, "archive_filter_bytes");
  resolve(lib.entry_pathname, "archive_entry_pathname");
  resolve(lib.entry_filetype, "archive_entry_filetype");
  resolve(lib.entry_hardlink, "archive_entry_hardlink");
  resolve(lib.entry_symlink, "archive_entry_symlink");
  resolve(lib.entry_sparse_count, "archive_entry_sparse_count");
  resolve(lib.entry_size_is_set, "archive_entry_size_is_set");
  resolve(lib.entry_size, "archive_entry_size");
  if (!missing.empty()) {
    ::dlclose(handle);
    return common::fail(common::Errc::kIo, std::string(kLibrary) + " has no " + missing + " (libarchive too old?)");
  }
  return lib;  // the handle stays open for the life of the process
}

}  // namespace

common::Result<const ArchiveLibrary*> archive_library() {
  static std::once_flag once;
  static std::optional<common::Result<ArchiveLibrary>> loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!*loaded) return std::unexpected((*loaded).error());
  return &**loaded;
}

}  // namespace flotilla::artifacts::detail
