# The host-side cases of issue 24 (an image is hostile, the host is precious), in one guest boot:
# sourced after checks.sh by test/vm/map-hostile-host.test.ts. Each case shows the safe outcome and,
# where a weaker mount would have let it through, a control that shows the image really is hostile.
insmod /share/nbd.ko nbds_max=8 max_part=15
NOBODY="/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups"
R=/mnt/nbdforge
not_said() { ! said "$@"; }
# run_timed NAME SCRIPT: like run, with each line on stderr stamped with the uptime (where the time goes)
run_timed() {
  { sh "/share/$2" 2>&1 > "/tmp/$1.out"; echo "rc=$?"; } | while IFS= read -r l; do read -r up x < /proc/uptime; echo "$up $l"; done > "/tmp/$1.err"
  RC=$(sed -n 's/^[0-9.]* rc=//p' "/tmp/$1.err")
  echo "--- $1: sh $2 -> exit $RC"; grep -v 'same filesystem as' "/tmp/$1.err" | sed 's/^/    /'
}
not_mopt() { ! mopt "$@" > /dev/null; }
perms() { ls -ldn "$1" | cut -c1-10; }   # the mode string of one path
mkdir -p /srv /root-only && chmod 755 /srv && chmod 700 /root-only

echo "=== A: a setuid-root shell and a 0666 node for a root-only host device, in the image"
truncate -s 1M /tmp/secret.raw && printf 'host-secret\n' | dd of=/tmp/secret.raw conv=notrunc 2>/dev/null && chmod 600 /tmp/secret.raw
losetup /dev/loop0 /tmp/secret.raw
run suid map-suid.sh
check "suid: exit 0" [ "$RC" = 0 ]
check "suid: the image's file read" content $R/suid/disk/hello.txt "$SUID_C"
check "suid: mounted ro,nosuid,nodev,noexec" mopt $R/suid/disk ro, nosuid, nodev, noexec,
check "suid: the mount root and its parent are root's, 0700" [ "$(perms $R/suid)" = drwx------ -a "$(perms $R)" = drwx------ ]
check "suid: uid 65534 cannot reach into the mount root" sh -c "! $NOBODY ls $R/suid/ 2>/dev/null && ! $NOBODY cat $R/suid/disk/hello.txt 2>/dev/null"
chmod 755 /mnt $R $R/suid   # (/mnt too: this guest had none, map made it 0700) an operator opens the root to everyone: the mount options still hold
check "suid (opened to all): uid 65534 reads a file there" sh -c "$NOBODY cat $R/suid/disk/hello.txt | grep -q $SUID_C"
check "suid: the setuid shell does not even run (noexec)" sh -c "! $NOBODY $R/suid/disk/rootsh -p -c 'echo pwned > /root-only/a' 2>/dev/null"
check "suid: the 0666 node for /dev/loop0 does not open (nodev)" sh -c "! $NOBODY cat $R/suid/disk/loopnode 2>/dev/null"
# control: the same filesystem mounted the way map used to (ro only) gives uid 65534 root and the host device
mkdir -p /tmp/ctl && mount -o ro /dev/nbd0 /tmp/ctl
check "control (mounted ro only): uid 65534 writes a root-only file through the setuid shell" sh -c "$NOBODY /tmp/ctl/rootsh -p -c 'echo pwned > /root-only/ctl' && [ -f /root-only/ctl ]"
check "control (mounted ro only): uid 65534 reads the root-only host device through the node" sh -c "$NOBODY cat /tmp/ctl/loopnode | grep -q host-secret"
umount /tmp/ctl
check "suid: nothing was written by uid 65534 through map's mount" [ ! -e /root-only/a ]
losetup -d /dev/loop0
run suid-unmap unmap-all.sh
expect_clean suid-unmap
run suid-exec map-suid-exec.sh
check "suid --exec: nosuid,nodev" mopt $R/suid/disk nosuid, nodev,
check "suid --exec: no noexec" not_mopt $R/suid/disk noexec,
chmod 755 /mnt $R $R/suid
check "suid --exec: the setuid shell runs, but as uid 65534: the root-only write fails" sh -c "! $NOBODY $R/suid/disk/rootsh -p -c 'echo pwned > /root-only/b' 2>/dev/null && [ ! -e /root-only/b ]"
check "suid --exec: its effective uid is 65534" sh -c "$NOBODY $R/suid/disk/rootsh -p -c 'grep ^Uid: /proc/self/status' | grep -q '^Uid:.65534.65534.65534.65534'"
run suid-exec-unmap unmap-all.sh
expect_clean suid-exec-unmap

echo "=== B, C, J: mount roots and state dirs another user controls"
mkdir -p /srv/ww && chmod 777 /srv/ww && ln -s /etc /srv/ww/mnt
expect_error ww-root map-ww-root.sh 1 "refusing mount root /srv/ww: writable by group or others"
check "ww-root: nothing mounted over /etc, nothing connected, no journal" [ "$(grep -c ' /etc' /proc/self/mounts)" = 0 -a "$(connected)" = 0 -a "$(journals)" = 0 ]
mkdir -p /srv/real /srv/wws/maps /srv/victim && ln -s /srv/real /srv/link && chmod 777 /srv/wws /srv/wws/maps
mount -t tmpfs victim /srv/victim
printf '%s\n' '{"seq":1,"ev":"info","kind":"map","id":"evil","image":"/x","mode":"ro","via":"nbd","root":"/srv/victim"}' '{"seq":2,"ev":"begin","kind":"mount","src":"victim","dir":"/srv/victim"}' > /srv/wws/maps/evil.jsonl
expect_error ww-state-unmap unmap-ww-state.sh 1 "refusing state dir /srv/wws: writable by group or others"
check "ww-state: the host mount a planted journal names is still mounted; the journal untouched" [ "$(grep -c ' /srv/victim ' /proc/self/mounts)" = 1 -a -f /srv/wws/maps/evil.jsonl ]
expect_error ww-state-map map-ww-state.sh 1 "refusing state dir /srv/wws"
check "ww-state: nothing connected" [ "$(connected)" = 0 ]
umount /srv/victim
expect_error link-root map-link-root.sh 1 "refusing mount root /srv/link: it is a symbolic link"
expect_error exists-root map-exists-root.sh 1 "mount root /srv/real exists"
check "link-root, exists-root: nothing connected, no journal" [ "$(connected)" = 0 -a "$(journals)" = 0 ]
# two maps started together whose images share a base name: each claims its own root
sh /share/map-dup-a.sh > /tmp/da.out 2>&1 & p1=$!; sh /share/map-dup-b.sh > /tmp/db.out 2>&1 & p2=$!; wait $p1; r1=$?; wait $p2; r2=$?
check "dup at once: both exit 0, two devices" [ "$r1" = 0 -a "$r2" = 0 -a "$(connected)" = 2 ]
check "dup at once: two roots (dup, dup-2), one mount each" [ "$(grep -c " $R/dup/" /proc/self/mounts)" = 1 -a "$(grep -c " $R/dup-2/" /proc/self/mounts)" = 1 ]
run dup-a-unmap unmap-dup-a.sh
check "unmap one dup: exit 0, the other's mount and device stay" [ "$RC" = 0 -a "$(mounts)" = 1 -a "$(connected)" = 1 ]
run dup-unmap unmap-all.sh
expect_clean dup-unmap

echo "=== F: unmap while a process holds a --rw mount"
run busy map-busy.sh
echo written-before-busy-unmap > $R/busy/disk/new.txt
(cd $R/busy/disk && exec sleep 600) & HOLDER=$!
sleep 0.5
run busy-unmap1 unmap-all.sh
check "busy unmap: exit 1" [ "$RC" = 1 ]
check "busy unmap: names the holder" said busy-unmap1 "held by process $HOLDER(sleep)"
check "busy unmap: never says done" not_said busy-unmap1 "done:"
check "busy unmap: still mounted, device connected, journal kept" [ "$(mounts)" = 1 -a "$(connected)" = 1 -a "$(journals)" = 1 ]
check "busy unmap: the file still reads" content $R/busy/disk/new.txt written-before-busy-unmap
kill $HOLDER; wait $HOLDER 2>/dev/null
run busy-unmap2 unmap-all.sh
check "busy, then free: unmap exit 0" [ "$RC" = 0 ]
check "busy, then free: says done" said busy-unmap2 "done: /share/busy.qcow2"
expect_clean busy-unmap2
run busy-again map-busy-ro.sh
check "the data written before the busy unmap is in the image" content $R/busy/disk/new.txt written-before-busy-unmap
run busy-again-unmap unmap-all.sh
expect_clean busy-again-unmap

echo "=== K: errors=panic in the superblock"
run panic map-panic.sh
check "panic image (corrupt root inode): the host is up, map finished (exit 0)" [ "$RC" = 0 ]
check "panic image: map says the mount failed, with mount's reason" said panic "mount failed: mount: "
check "panic image: not the line that only points at dmesg" not_said panic "dmesg(1) may have more information"
check "panic image: the kernel met the error (and remounted read-only instead of panicking)" sh -c 'dmesg | grep -q "EXT4-fs error"'
check "panic image: nothing mounted" [ "$(mounts)" = 0 ]
run panic-unmap unmap-all.sh
expect_clean panic-unmap
run panicok map-panicok.sh
check "errors=panic superblock, intact: mounted with errors=remount-ro" mopt $R/panicok/disk ro, errors=remount-ro
run panicok-unmap unmap-all.sh
expect_clean panicok-unmap
run nomount map-nomount.sh
check "--no-mount: exit 0, connected, nothing mounted, no root made" [ "$RC" = 0 -a "$(connected)" = 1 -a "$(mounts)" = 0 -a ! -e $R ]
check "--no-mount: the table says why" said nomount "not mounted (--no-mount)"
run nomount-unmap unmap-all.sh
expect_clean nomount-unmap

echo "=== I: overlapping partitions, an EBR that links to itself, --rw"
SHA_OV=$(sha /share/overlap.qcow2)
read -r up x < /proc/uptime; echo "overlap map starts at $up"
run_timed overlap map-overlap-rw.sh
check "overlap: exit 0" [ "$RC" = 0 ]
check "overlap: two filesystems, two mounts (not one per partition)" [ "$(mounts)" = 2 ]
check "overlap: p1 mounted read-only though --rw (p2 is the same partition)" mopt $R/overlap/p1 ro,
check "overlap: p1 read" content $R/overlap/p1/hello.txt "$OVA_C"
check "overlap: p2 not mounted: the same filesystem as p1" said overlap "the same filesystem as p1"
check "overlap: both mounts read-only" [ "$(grep " $R/overlap/" /proc/self/mounts | grep -c " ro,")" = 2 ]
check "overlap: one of the looping EBR's logical partitions mounted: the second filesystem read" [ "$(cat $R/overlap/p[1-9]*/hello.txt | grep -c "$OVB_C")" = 1 ]
check "overlap: the looping EBR gave many partitions, each recorded (not probed again)" [ "$(grep -c '"same":"/dev/nbd0p' $STATE/maps/*.jsonl)" -gt 10 ]
check "overlap: warns about the overlap" said overlap "overlaps partition"
run overlap-unmap unmap-all.sh
expect_clean overlap-unmap
check "overlap: the image unchanged by the --rw map" [ "$(sha /share/overlap.qcow2)" = "$SHA_OV" ]

echo "=== Also: a label with a backslash and a quote; journal permissions; an LV named .hid; a failed export"
run label map-label.sh
check "label: exit 0" [ "$RC" = 0 ]
check "label: mounted" content $R/label/disk/hello.txt label
check "label: the table shows it as it is" said label 'a\b"c'
check "journal 0600 in a 0700 maps directory" [ "$(perms $STATE/maps/*.jsonl)" = -rw------- -a "$(perms $STATE/maps)" = drwx------ ]
cp $STATE/maps/*.jsonl /share/label-journal.jsonl
run label-unmap unmap-all.sh
expect_clean label-unmap
mkdir -p /tmp/dotc && echo dot-lv > /tmp/dotc/hello.txt && truncate -s 64M /tmp/dotlv.raw
L=$(losetup -f --show /tmp/dotlv.raw)
C="devices { filter=[ \"a|^$L\$|\", \"r|.*|\" ] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } global { event_activation=0 } backup { backup=0 archive=0 }"
{ lvm pvcreate --config "$C" -y -ff "$L" && lvm vgcreate --config "$C" dotvg "$L" && lvm lvcreate --config "$C" -y -Zn -n .hid -l 100%FREE dotvg && mke2fs -q -t ext4 -d /tmp/dotc /dev/mapper/dotvg-.hid && lvm vgchange --config "$C" -an dotvg; } > /tmp/dotlv.log 2>&1 || cat /tmp/dotlv.log
losetup -d "$L"
run dotlv map-dotlv.sh
check "LV named .hid: mounted" content "$R/dotlv/dotvg-.hid/hello.txt" dot-lv
check "LV named .hid: listed" said dotlv "dotvg-.hid"
run dotlv-unmap unmap-all.sh
expect_clean dotlv-unmap
expect_error export-bad export-notimage.sh 1 "is not a disk image"
check "failed export: no journal left" [ "$(journals)" = 0 ]
