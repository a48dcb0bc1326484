#!/bin/busybox sh
# PID 1 of every nbdforge test guest. Mounts the basics, loads the modules named on the kernel
# command line, mounts the host's share (9p, tag "share") on /share unless the initramfs holds
# /share/<nbdforge.script> already, runs it
# with /bin/sh (dash, Debian's real sh; busybox's own sh would prefer its applets to kmod and co.),
# prints its exit status and powers off.
B=/bin/busybox
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mount -t tmpfs tmpfs /run
$B mount -t tmpfs tmpfs /tmp
$B mkdir -p /run/lock /dev/pts /share
echo 0 > /proc/sys/kernel/printk
arg() { $B sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
for m in $(arg nbdforge.modules | $B tr , ' '); do /usr/sbin/modprobe "$m" || echo "NBDFORGE-VM: modprobe $m failed"; done
script=$(arg nbdforge.script)
# the share is the host's directory over 9p, unless the initramfs brought it (a second archive)
if [ ! -f "/share/$script" ] && ! $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share; then
  echo "NBDFORGE-VM-EXIT: 125 (no share)"; $B poweroff -f
fi
echo "NBDFORGE-VM: kernel $($B uname -r) up $($B cut -d' ' -f1 /proc/uptime)s, running /share/$script"
cd /share && /bin/sh "/share/$script"
rc=$?
echo "NBDFORGE-VM-EXIT: $rc"
# Output the serial port has not sent yet dies with poweroff -f (a slow TCG guest on a loaded host
# lost its report's last lines): setting the console's own mode again goes through TCSADRAIN, which
# returns once everything written is transmitted.
$B stty -F /dev/console "$($B stty -F /dev/console -g 2>/dev/null)" 2>/dev/null
$B sync
$B poweroff -f
