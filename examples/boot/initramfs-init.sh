#!/bin/sh
# /init of the reference device's initramfs (scripts/device-image): Debian's
# cloud kernel has its virtio block driver as a module, so this loads it,
# waits for the root= the boot script chose, and hands over to the slot's
# own /sbin/init. Anything that goes wrong ends this process, the kernel
# panics and panic=1 reboots: the try is used up and the boot script falls
# back, exactly as for a slot whose init is broken.
export PATH=/bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
  insmod /lib/modules/$module.ko || exit 1
done
root=$(sed -n 's/.*root=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$root" ] || { echo "initramfs: no root= on the kernel command line"; exit 1; }
tries=0
until [ -b "$root" ]; do
  tries=$((tries + 1))
  [ $tries -le 100 ] || { echo "initramfs: $root did not appear in 10 s"; exit 1; }
  sleep 0.1
done
mkdir -p /newroot
mount -t ext4 -o rw "$root" /newroot || { echo "initramfs: cannot mount $root"; exit 1; }
umount /proc
umount /dev
exec switch_root /newroot /sbin/init
