#!/bin/sh
# /sbin/init of the reference device (scripts/device-image): mounts what
# the agent needs, brings up the network, then runs flotilla-agent for as
# long as the system is up. A real device uses systemd and
# examples/device/flotilla-agent.service instead; the steps are the same.
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
# The boot partition holds GRUB's environment; the data partition the
# device's identity, its trust root and the agent's state. Both outlive
# every slot.
mount -t ext2 /dev/vda1 /boot
mount -t ext4 /dev/vda4 /data
for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$module.ko 2>/dev/null
done
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
slot=$(sed -n 's/.*flotilla\.slot=\([ab]\).*/\1/p' /proc/cmdline)
echo "flotilla-device: up in slot ${slot:-?} with rootfs $(cat /etc/flotilla-release) (kernel to here: $(cut -d' ' -f1 /proc/uptime)s)"
while true; do
  flotilla-agent run --config /data/flotilla/agent.json
  echo "flotilla-device: agent exited ($?), restarting"
  sleep 5
done
