// The agent's "bootloader" config for each backend the tests run, with
// whatever files the backend needs laid out in `dir`.
#pragma once

#include <filesystem>
#include <string>

#include "common/json.hpp"

namespace flotilla::testing {

// `type`: file, uboot (a blank 16 KiB environment and its fw_env.config),
// grub (a grubenv created on first use) or custom (the example script).
common::Json bootloader_config(const std::string& type, const std::filesystem::path& dir);

}  // namespace flotilla::testing
