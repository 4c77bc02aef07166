# Flotilla A/B boot with U-Boot: the scheme the agent's `uboot` backend
# writes (RAUC's): BOOT_ORDER lists the slots in preference order,
# BOOT_<slot>_LEFT the boots a slot has left. The first slot of BOOT_ORDER
# with tries left boots and its count goes down (saved before the kernel
# starts). The agent gives a trial slot one try and puts it first; it gives
# a committed slot 3 again and a failed one 0. A slot that never comes up
# runs out of tries and the next boot takes the other one.
#
# Make the script U-Boot reads:   mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
# (mkimage is in Debian's u-boot-tools). What differs between boards is in
# three variables, set in the board's default environment or in a few
# lines put before this script (board-qemu-x86.cmd is the reference
# device's, tested in QEMU by scripts/device-image --bootloader uboot):
#   flotilla_save_env    keeps the environment (default: saveenv)
#   flotilla_root_prefix the slots' block device without the partition
#                        number (default: /dev/mmcblk0p); slot A is
#                        partition 2, slot B partition 3
#   flotilla_boot        loads and starts the kernel of partition
#                        ${flotilla_part} with ${bootargs} (default: an
#                        arm64 Image from mmc 0 with booti)
# Only `test`, `setenv`, `run` and `echo` are used: no setexpr, which many
# board configurations (Debian's qemu-x86 among them) leave out.

test -n "${flotilla_save_env}" || setenv flotilla_save_env saveenv
test -n "${flotilla_root_prefix}" || setenv flotilla_root_prefix /dev/mmcblk0p
test -n "${flotilla_boot}" || setenv flotilla_boot 'load mmc 0:${flotilla_part} ${kernel_addr_r} /boot/Image; booti ${kernel_addr_r} - ${fdt_addr}'
test -n "${console}" || setenv console ttyS0,115200

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv flotilla_slot
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test "x${flotilla_slot}" != "x"; then
    # a slot was chosen: skip the rest
  elif test "x${BOOT_SLOT}" = "xA"; then
    if test ${BOOT_A_LEFT} -gt 0; then
      if test ${BOOT_A_LEFT} -gt 2; then setenv BOOT_A_LEFT 2; elif test ${BOOT_A_LEFT} -gt 1; then setenv BOOT_A_LEFT 1; else setenv BOOT_A_LEFT 0; fi
      echo "flotilla: booting slot A, ${BOOT_A_LEFT} tries left"
      setenv flotilla_slot a
      setenv flotilla_part 2
    fi
  elif test "x${BOOT_SLOT}" = "xB"; then
    if test ${BOOT_B_LEFT} -gt 0; then
      if test ${BOOT_B_LEFT} -gt 2; then setenv BOOT_B_LEFT 2; elif test ${BOOT_B_LEFT} -gt 1; then setenv BOOT_B_LEFT 1; else setenv BOOT_B_LEFT 0; fi
      echo "flotilla: booting slot B, ${BOOT_B_LEFT} tries left"
      setenv flotilla_slot b
      setenv flotilla_part 3
    fi
  fi
done

if test -z "${flotilla_slot}"; then
  # Every slot used its tries: renew them and start over, so a device is
  # never left without a slot to boot.
  echo "flotilla: no slot has tries left; renewing them"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  run flotilla_save_env
  reset
fi
run flotilla_save_env

setenv bootargs "console=${console} root=${flotilla_root_prefix}${flotilla_part} rootfstype=ext4 rootwait rw panic=1 flotilla.slot=${flotilla_slot}"
run flotilla_boot
echo "flotilla: the kernel of slot ${flotilla_slot} did not start"
reset
