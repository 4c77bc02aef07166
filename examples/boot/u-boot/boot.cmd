# Flotilla A/B boot with U-Boot: the scheme the agent's `uboot` backend
# writes (RAUC's): BOOT_ORDER lists the slots in preference order,
# BOOT_<slot>_LEFT the boots a slot has left. The first slot of BOOT_ORDER
# with tries left boots and its count goes down (saved before the kernel
# starts). The agent gives a trial slot one try and puts it first; it gives
# a committed slot 3 again and a failed one 0. A slot that never comes up
# runs out of tries and the next boot takes the other one.
#
# Make the script U-Boot reads:   mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
# (mkimage is in Debian's u-boot-tools). Adjust the device (mmc 0, virtio 0),
# the partitions (2 = slot A, 3 = slot B), the kernel path and the load
# command to the board.

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv flotilla_slot
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test "x${flotilla_slot}" != "x"; then
    # a slot was chosen: skip the rest
  elif test "x${BOOT_SLOT}" = "xA"; then
    if test ${BOOT_A_LEFT} -gt 0; then
      setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
      echo "flotilla: booting slot A, ${BOOT_A_LEFT} tries left"
      setenv flotilla_slot a
      setenv flotilla_part 2
    fi
  elif test "x${BOOT_SLOT}" = "xB"; then
    if test ${BOOT_B_LEFT} -gt 0; then
      setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
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
  saveenv
  reset
fi
saveenv

setenv bootargs "console=${console} root=/dev/mmcblk0p${flotilla_part} rootwait rw panic=1 flotilla.slot=${flotilla_slot}"
load mmc 0:${flotilla_part} ${kernel_addr_r} /boot/Image
booti ${kernel_addr_r} - ${fdt_addr}
