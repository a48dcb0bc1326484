#!/bin/busybox sh
# PID 1 of the initramfs of persistent-disk guests (scripts/vm/debian-disk.ts): load the modules
# named on the kernel command line (virtio, the root disk's), mount /dev/vda read-write and hand
# over to the disk's own init (systemd), as a distribution's initramfs does.
B=/bin/busybox
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
echo 0 > /proc/sys/kernel/printk
mods=$($B sed -n 's/.*nbdforge.modules=\([^ ]*\).*/\1/p' /proc/cmdline)
for m in $(echo "$mods" | $B tr , ' '); do /usr/sbin/modprobe "$m" || echo "NBDFORGE-VM: modprobe $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do $B sleep 0.1; i=$((i + 1)); done
$B mkdir -p /newroot
if ! $B mount -t ext4 -o rw /dev/vda /newroot; then
  echo "NBDFORGE-VM-EXIT: 124 (no root disk)"; $B poweroff -f
fi
echo "NBDFORGE-VM: kernel $($B uname -r) up $($B cut -d' ' -f1 /proc/uptime)s, switching to the disk's init"
$B mount --move /dev /newroot/dev
$B umount /sys /proc
exec $B switch_root /newroot /sbin/init
