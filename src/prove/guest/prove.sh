# nbdforge prove: the checks run inside the guest (POSIX sh; the guest's /bin/sh is dash). The host
# put into /share (an archive appended to the initramfs: no 9p needed, which Debian's cloud kernels
# lack): nbd.ko (the store's exact bytes), pattern.bin (the data to write), gpt.img (a small GPT
# disk) and prove.env (the expected sha256s and sizes). Every step prints one line on the console
# as it ends, so a guest that hangs or panics still shows the checks it finished and the one it was in:
#   NBDFORGE-PROVE: start <check>
#   NBDFORGE-PROVE: check <check> ok|fail <ms> <detail>
#   NBDFORGE-PROVE: taint <before> <after> | signer <text> | modtaint <letters> | dmesg <line>
# The host parses those lines (prove/verdict.ts) and judges dmesg and taint itself.
. /share/prove.env
B=/bin/busybox
now() { $B awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
say() { printf 'NBDFORGE-PROVE: %s\n' "$*"; }
T0=0
begin() { CUR=$1; say "start $1"; T0=$(now); }
pass() { say "check $CUR ok $(( $(now) - T0 )) $*"; }
fail() { say "check $CUR fail $(( $(now) - T0 )) $*"; finish; }
# dmesg from the marker on, then power off (guest-init prints the exit status)
finish() {
  $B dmesg | $B sed -n '/nbdforge-prove: insmod/,$p' | $B head -n 200 | while IFS= read -r l; do say "dmesg $l"; done
  say "taint $TAINT0 $(cat /proc/sys/kernel/tainted)"
  exit 0
}
sysfs_wait() { # PATH TENTHS: wait for a sysfs path to appear
  i=0; while [ ! -e "$1" ] && [ $i -lt "$2" ]; do $B sleep 0.1; i=$((i + 1)); done; [ -e "$1" ]
}
# Bounds are generous: a TCG guest on a loaded host is slow (the host's --timeout bounds the whole boot).
# connected: a server pid and a size (6.12 shows the pid before the size is set)
connected() {
  i=0; while [ $i -lt 600 ]; do
    [ -e /sys/block/nbd0/pid ] && [ "$(cat /sys/block/nbd0/size)" != 0 ] && return 0
    $B sleep 0.1; i=$((i + 1))
  done; return 1
}
gone() { i=0; while [ -e /sys/block/nbd0/pid ] && [ $i -lt 600 ]; do $B sleep 0.1; i=$((i + 1)); done; [ ! -e /sys/block/nbd0/pid ]; }
why() { echo "$($B head -c 200 /tmp/err 2>/dev/null) (qemu-nbd $(if $B pidof qemu-nbd >/dev/null; then echo running; else echo not running; fi); kernel: $($B dmesg | $B tail -n 2 | $B tr '\n' ' ' | $B head -c 300))"; }

begin boot
TAINT0=$(cat /proc/sys/kernel/tainted)
pass "kernel $($B uname -r) reached /init's script at $(now) ms of uptime"

begin insmod
have=$($B sha256sum /share/nbd.ko | $B cut -d' ' -f1)
[ "$have" = "$MODULE_SHA" ] || fail "the module the guest sees hashes to $have, not the store's $MODULE_SHA"
for d in $DEPS; do /usr/sbin/modprobe "$d" 2>/tmp/err || fail "modprobe $d (a dependency nbd.ko names): $($B head -c 300 /tmp/err)"; done
echo "nbdforge-prove: insmod" > /dev/kmsg
if ! /usr/sbin/insmod /share/nbd.ko 2>/tmp/err; then
  fail "insmod: $($B tr '\n' ' ' < /tmp/err | $B head -c 300); kernel: $($B dmesg | $B tail -n 1 | $B head -c 300)"
fi
[ -d /sys/module/nbd ] || fail "insmod returned 0 but /sys/module/nbd is missing"
say "signer $(/usr/sbin/modinfo -F signer /share/nbd.ko 2>/dev/null | $B head -n 1)"
say "modtaint $(cat /sys/module/nbd/taint 2>/dev/null)"
pass "loaded $MODULE_SHA (module taint flags: $(cat /sys/module/nbd/taint 2>/dev/null))"

begin "write-${PATTERN_MIB}MiB"
$B cp /share/pattern.bin /tmp/pattern.bin
$B dd if=/dev/zero of=/tmp/disk.img bs=1M count=$((PATTERN_MIB + 8)) 2>/dev/null
/usr/bin/qemu-nbd -f raw -c /dev/nbd0 /tmp/disk.img 2>/tmp/err || fail "qemu-nbd -c /dev/nbd0: $($B head -c 300 /tmp/err)"
connected || fail "/dev/nbd0 did not connect within 60 s: $(why)"
t=$(now)
$B dd if=/tmp/pattern.bin of=/dev/nbd0 bs=1M conv=fsync 2>/tmp/err || fail "dd to /dev/nbd0: $($B tail -n 1 /tmp/err)"
pass "$PATTERN_MIB MiB written through /dev/nbd0 and flushed in $(( $(now) - t )) ms"

begin drop-caches-read-compare
$B sync
/bin/busybox blockdev --flushbufs /dev/nbd0
echo 3 > /proc/sys/vm/drop_caches
got=$($B dd if=/dev/nbd0 bs=1M count="$PATTERN_MIB" iflag=direct 2>/dev/null | $B sha256sum | $B cut -d' ' -f1)
[ "$got" = "$PATTERN_SHA" ] || fail "read back $got, wrote $PATTERN_SHA"
pass "caches dropped; $PATTERN_MIB MiB read back with O_DIRECT hash to the pattern's $PATTERN_SHA"

begin disconnect
/usr/bin/qemu-nbd -d /dev/nbd0 >/dev/null 2>/tmp/err || fail "qemu-nbd -d: $($B head -c 300 /tmp/err)"
gone || fail "/dev/nbd0 still connected 60 s after qemu-nbd -d"
served=$($B head -c $((PATTERN_MIB * 1048576)) /tmp/disk.img | $B sha256sum | $B cut -d' ' -f1)
[ "$served" = "$PATTERN_SHA" ] || fail "disconnected, but the served image holds $served, not the pattern"
pass "disconnected; the image qemu-nbd served holds the pattern"

begin gpt-partition-scan
$B cp /share/gpt.img /tmp/gpt.img
/usr/bin/qemu-nbd -f raw -c /dev/nbd0 /tmp/gpt.img 2>/tmp/err || fail "qemu-nbd -c /dev/nbd0 gpt.img: $($B head -c 300 /tmp/err)"
connected || fail "/dev/nbd0 did not connect within 60 s: $(why)"
/bin/busybox blockdev --rereadpt /dev/nbd0 2>/dev/null
sysfs_wait /sys/block/nbd0/nbd0p1/size 300 || fail "no nbd0p1 30 s after connecting a GPT disk"
size=$(cat /sys/block/nbd0/nbd0p1/size)
[ "$size" = "$PART_SECTORS" ] || fail "nbd0p1 has $size sectors, the GPT says $PART_SECTORS"
/usr/bin/qemu-nbd -d /dev/nbd0 >/dev/null 2>&1
gone || fail "/dev/nbd0 still connected 60 s after qemu-nbd -d"
pass "nbd0p1 appeared with the GPT's $PART_SECTORS sectors"

begin rmmod
/usr/sbin/rmmod nbd 2>/tmp/err || fail "rmmod nbd: $($B head -c 300 /tmp/err)"
[ ! -d /sys/module/nbd ] || fail "rmmod returned 0 but /sys/module/nbd is still there"
pass "unloaded"

finish
