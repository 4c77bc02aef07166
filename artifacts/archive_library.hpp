// Internal: libarchive for reading bundles, loaded when the first bundle is
// read rather than when the program starts. The device agent polls for
// days between installs; linked directly, libarchive would keep itself and
// what it links (libxml2, ICU, lzma, lz4, bz2, acl) mapped in the idle
// daemon for nothing (docs/agent.md, "Footprint"). The bundle writer (CLI
// and tests only) links libarchive as usual.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "common/error.hpp"

namespace flotilla::artifacts::detail {

// The functions the reader calls, resolved from libarchive.so.13.
struct ArchiveLibrary {
  decltype(&::archive_read_new) read_new;
  decltype(&::archive_read_free) read_free;
  decltype(&::archive_read_support_format_tar) support_format_tar;
  decltype(&::archive_read_support_filter_zstd) support_filter_zstd;
  decltype(&::archive_read_support_filter_gzip) support_filter_gzip;
  decltype(&::archive_read_support_filter_xz) support_filter_xz;
  decltype(&::archive_read_open) read_open;
  decltype(&::archive_read_next_header) read_next_header;
  decltype(&::archive_read_data_block) read_data_block;
  decltype(&::archive_error_string) error_string;
  decltype(&::archive_filter_count) filter_count;
  decltype(&::archive_filter_bytes) filter_bytes;
  decltype(&::archive_entry_pathname) entry_pathname;
  decltype(&::archive_entry_filetype) entry_filetype;
  decltype(&::archive_entry_hardlink) entry_hardlink;
  decltype(&::archive_entry_symlink) entry_symlink;
  decltype(&::archive_entry_sparse_count) entry_sparse_count;
  decltype(&::archive_entry_size_is_set) entry_size_is_set;
  decltype(&::archive_entry_size) entry_size;
};

// Loads libarchive once per process (thread-safe); fails, saying which
// package to install, when it is missing or lacks a function.
common::Result<const ArchiveLibrary*> archive_library();

}  // namespace flotilla::artifacts::detail
