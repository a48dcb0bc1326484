# The compose test guest's script: /dev/vda ext4 volume, /dev/vdb NTFS volume, /dev/vdc a disk
# that already has a GPT. Scripts were emitted by the real CLI (test/vm/compose.test.ts).
. /share/checks.sh
. /share/vars.sh
mkdir -p /mnt/e /mnt/n /var/lock
busybox ip link set lo up

# device-mapper not loaded yet: refused, says what to load, nothing left
expect_error no-dm compose-ext4.sh 3 'modprobe dm-mod'
expect_clean no-dm
modprobe dm-mod

# bad input
expect_error missing compose-missing.sh 3 'no such block device: /dev/vdz'
expect_error partitioned compose-parted.sh 3 'blkid found a gpt partition table on /dev/vdc'
expect_error wrong-size compose-wrong-size.sh 3 'is not the'
expect_clean refusals
run forced compose-parted-force.sh
check "forced: --force composes a partitioned volume" [ "$RC" = 0 ] && [ -b /dev/mapper/cpartedp1 ]
run decompose-parted decompose-parted.sh
check "decompose-parted: exit 0" [ "$RC" = 0 ]
expect_clean forced

# ext4, read-only session: the volume's sha256 does not change
SHA_A=$(sha /dev/vda)
run ro compose-ext4-ro.sh
check "ro: exit 0" [ "$RC" = 0 ]
check "ro: table printed" said ro '2048 '"$EXT4_V"' linear /dev/vda 0'
check "ro: composite size" [ "$(blockdev --getsize64 /dev/mapper/cro)" = "$EXT4_DISK" ]
check "ro: composite is read-only" [ "$(blockdev --getro /dev/mapper/cro)" = 1 ]
check "ro: sfdisk reads the GPT of the composite" sh -c "sfdisk --dump /dev/mapper/cro | grep -q 'start= *2048, size= *$EXT4_V, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4'"
check "ro: partition fs UUID is the volume's" [ "$(uuid_of /dev/mapper/crop1)" = "$EXT4_UUID" ]
mount -o ro,noload /dev/mapper/crop1 /mnt/e
check "ro: known file read through the partition" content /mnt/e/known.txt "$KNOWN"
umount /mnt/e
run decompose-ro decompose-ro.sh
check "decompose-ro: exit 0" [ "$RC" = 0 ]
expect_clean ro
check "ro: the volume's sha256 is unchanged" [ "$(sha /dev/vda)" = "$SHA_A" ]

# ext4 read-write: a name in use is refused; writes through the partition reach the volume
run ext4 compose-ext4.sh
check "ext4: exit 0" [ "$RC" = 0 ]
check "ext4: partition device" [ -b /dev/mapper/cext4p1 ]
check "ext4: the partition GUID given" sh -c "sfdisk --dump /dev/mapper/cext4 | grep -q 'uuid=$PART'"
expect_error name-in-use compose-again.sh 3 'the name cext4 is in use'
mount /dev/mapper/cext4p1 /mnt/e
check "ext4: known file read through the partition" content /mnt/e/known.txt "$KNOWN"
echo written-through-the-partition > /mnt/e/written.txt
umount /mnt/e
# each block device has its own page cache: what /dev/vda and /dev/mapper/cext4 cached before the
# writes through cext4p1 is stale now (a VM given the disk never mixes them; this test reads all three)
sync; echo 3 > /proc/sys/vm/drop_caches

# export of the composite: qemu-img sees its size, the bytes carry the partition table
run export export.sh
check "export: exit 0" [ "$RC" = 0 ]
qemu-img info nbd://127.0.0.1:10809 > /tmp/info.txt 2>&1; cat /tmp/info.txt | sed 's/^/    /'
check "export: qemu-img info gives the composite's size" grep -q "($EXT4_DISK bytes)" /tmp/info.txt
qemu-img convert -f raw -O raw nbd://127.0.0.1:10809 /tmp/exported.raw
check "export: the exported bytes hold the partition table" sh -c "sfdisk --dump /tmp/exported.raw | grep -q 'start= *2048, size= *$EXT4_V, .*uuid=$PART'"
check "export: the exported partition is the volume" [ "$(dd if=/tmp/exported.raw bs=512 skip=2048 count="$EXT4_V" 2> /dev/null | sha256sum | cut -d' ' -f1)" = "$(sha /dev/vda)" ]
rm -f /tmp/exported.raw
expect_error busy decompose-ext4.sh 1 'cannot remove /dev/mapper/cext4 (in use'
check "busy: the exported composite is still there" [ -b /dev/mapper/cext4 ]
check "busy: says what it did take apart" said busy 'removed /dev/mapper/cext4p1'
run export-stop export-stop.sh
check "export-stop: exit 0" [ "$RC" = 0 ]
run decompose-ext4 decompose-ext4.sh
check "decompose-ext4: exit 0" [ "$RC" = 0 ]
expect_clean ext4
mount -o ro,noload /dev/vda /mnt/e
check "ext4: the write through the partition is on the volume" content /mnt/e/written.txt written-through-the-partition
umount /mnt/e

# NTFS on MBR, read with ntfs-3g and ntfscat
run ntfs compose-ntfs.sh
check "ntfs: exit 0" [ "$RC" = 0 ]
check "ntfs: composite size" [ "$(blockdev --getsize64 /dev/mapper/cntfs)" = "$NTFS_DISK" ]
check "ntfs: sfdisk reads the MBR" sh -c "sfdisk --dump /dev/mapper/cntfs | grep -q 'start= *2048, size= *$NTFS_V, type=7'"
check "ntfs: disk id" sh -c "sfdisk --dump /dev/mapper/cntfs | grep -q 'label-id: 0x0c0ffee0'"
check "ntfs: partition fs UUID is the volume's" [ "$(uuid_of /dev/mapper/cntfsp1)" = "$NTFS_UUID" ]
check "ntfs: ntfscat reads the known file" [ "$(ntfscat /dev/mapper/cntfsp1 known.txt)" = "$KNOWN" ]
if ntfs-3g -o ro /dev/mapper/cntfsp1 /mnt/n; then
  check "ntfs: known file read through ntfs-3g" content /mnt/n/known.txt "$KNOWN"
  umount /mnt/n
else bad "ntfs: ntfs-3g mount"; fi
run decompose-all decompose-all.sh
check "decompose-all: exit 0" [ "$RC" = 0 ]
expect_clean ntfs

# kill -9 of a compose at each of its stages (its whole process group at once, as a crash would:
# killing a tree one process at a time lets the parent start the next command in between), then
# decompose --all leaves nothing. The kill comes once the journal holds N records (read by the
# shell while the compose runs): 0 = at once (in the preconditions); 2 writing the head; 6 attaching the head; 9 the tail;
# 12 creating the composite; 14 its partition device; 16 complete.
J=$STATE/composes/cext4.jsonl
for n in 0 2 6 9 12 14 16; do
  setsid /bin/sh /share/compose-ext4.sh > /tmp/kill.out 2>&1 & pid=$! # a path: busybox setsid would run its own ash for "sh"
  # the group exists once setsid has run (before that, kill -- -PID finds nothing)
  i=0; while [ "$(cut -d' ' -f5 "/proc/$pid/stat" 2> /dev/null)" != "$pid" ] && [ $i -lt 500 ]; do i=$((i + 1)); sleep 0.01; done
  i=0
  while [ "$n" -gt 0 ] && [ $i -lt 1000 ]; do
    c=0; [ -f "$J" ] && while IFS= read -r _l; do c=$((c + 1)); done < "$J"
    [ $c -ge "$n" ] && break
    i=$((i + 1)); sleep 0.01
  done
  kill -s KILL -- "-$pid"; wait $pid 2> /dev/null
  echo "--- killed at $n journal records: $(grep -c '^@nbdforge step' /tmp/kill.out) step records"; tail -n 2 "$J" 2> /dev/null | sed 's/^/    /'
  run "kill-$n" decompose-all.sh
  check "kill at $n records: decompose --all exit 0" [ "$RC" = 0 ]
  expect_clean "kill at $n records"
  [ "$(dms)" = 0 ] || { dmsetup info -c; dmsetup table; } 2>&1 | sed 's/^/    /'
  [ "$(dms)" = 0 ] && [ "$(loops)" = 0 ] || { losetup -a | sed 's/^/    /'; dmsetup remove_all; for l in /dev/loop*; do losetup -d "$l" 2> /dev/null; done; rm -rf "$STATE/composes"; }
done
check "the volume survived it all" [ "$(uuid_of /dev/vda)" = "$EXT4_UUID" ]
finish
