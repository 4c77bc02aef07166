# The board part of the reference QEMU device's boot script
# (scripts/device-image disk --bootloader uboot puts it before boot.cmd).
# Debian's U-Boot for qemu-x86 keeps no environment of its own
# (CONFIG_ENV_IS_NOWHERE, no setexpr), so these lines read and keep the
# slot variables themselves, raw on the disk before the first partition:
# 16 KiB at 512 KiB, U-Boot's checksummed format, the place and format an
# eMMC board's CONFIG_ENV_IS_IN_MMC uses, and what fw_printenv/fw_setenv
# read and write in the running system (fw_env.config: /dev/vda 0x80000 0x4000).
# A missing or torn environment fails its checksum and reads as the
# defaults (slot A first), like GRUB's environment block.
setenv flotilla_env_addr 0x6000000
if virtio read ${flotilla_env_addr} 0x400 0x20; then
  env import -c ${flotilla_env_addr} 0x4000 BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT || echo "flotilla: no valid environment, using the defaults"
fi
setenv flotilla_save_env 'env export -c -s 0x4000 ${flotilla_env_addr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT && virtio write ${flotilla_env_addr} 0x400 0x20'
setenv flotilla_root_prefix /dev/vda
setenv flotilla_boot 'load virtio 0:${flotilla_part} 0x1000000 /boot/vmlinuz && load virtio 0:${flotilla_part} 0x8000000 /boot/initrd.img && zboot 0x1000000 0 0x8000000 ${filesize}'
setenv console ttyS0,115200
