#include "tests/support/bootloader_config.hpp"

#include "tests/support/fixtures.hpp"

namespace flotilla::testing {

common::Json bootloader_config(const std::string& type, const std::filesystem::path& dir) {
  if (type == "uboot") {
    write_text(dir / "uboot.env", std::string(16384, '\0'));
    write_text(dir / "fw_env.config", (dir / "uboot.env").string() + " 0x0 0x4000\n");
    return {{"type", "uboot"}, {"path", (dir / "fw_env.config").string()}};
  }
  if (type == "grub") return {{"type", "grub"}, {"path", (dir / "grubenv").string()}};
  if (type == "custom") {
    return {{"type", "custom"},
            {"script", {std::string(FLOTILLA_SOURCE_DIR) + "/examples/device/custom-bootloader.sh", (dir / "custom.env").string()}}};
  }
  return {{"type", "file"}, {"path", (dir / "bootenv.json").string()}};
}

}  // namespace flotilla::testing
