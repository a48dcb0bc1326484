# Hostile images and shared hosts (issue 24: D, E, G, H, L), one guest boot; sourced after checks.sh.
# Images are in /share/h (made on the host by test/vm/map-hostile-image.test.ts); scripts in /share.
H=/share/h
# an unprivileged local user, as on a real host
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh' >> /etc/passwd
echo 'nogroup:x:65534:' >> /etc/group; echo 'root:x:0:' >> /etc/group
as_nobody() { su nobody -s /bin/sh -c "$*"; }
state() { echo "$(connected) $(loops) $(journals) $(mounts)"; }
refused() { # NAME SCRIPT TEXT: exit 3, says TEXT, nothing more connected, journaled or mounted than before
  s0=$(state); run "$1" "$2"
  check "$1: refused (exit 3)" [ "$RC" = 3 ]
  check "$1: says \"$3\"" said "$1" "$3"
  check "$1: nothing new connected, journaled or mounted" [ "$(state)" = "$s0" ]
}
one_line() { # NAME: the refusal is one line under 700 bytes
  l=$(grep '^\[nbdforge\] image check: ' "/tmp/$1.err"); [ -n "$l" ] && [ "$(printf '%s\n' "$l" | wc -l)" = 1 ] && [ "${#l}" -lt 700 ]
}
insmod /share/nbd.ko nbds_max=4 max_part=15
ip link set lo up
mkdir -p /root && echo 'root-only secret' > /root/secret.txt && chmod 600 /root/secret.txt
SHA_SECRET=$(sha /root/secret.txt); SHA_PASSWD=$(sha /etc/passwd)

# --- D: references outside the image
refused backing-passwd map-evil-backing.sh "names the backing file /etc/passwd"
refused vmdk-flat map-evil-vmdk.sh "names the extent (FLAT) /etc/passwd"
refused data-file-rw map-evil-data.sh "names the external data file /root/secret.txt"
check "data-file --rw: /root/secret.txt unchanged" [ "$(sha /root/secret.txt)" = "$SHA_SECRET" ]
refused backing-nbd map-evil-nbd.sh "a protocol or json: filename"
refused backing-json map-evil-json.sh "json: filename"
refused vmdk-parent map-evil-parent.sh "parentFileNameHint"
refused no-backing-format map-evil-nofmt.sh "without a backing format"
refused backing-loop map-loop-fmt.sh "backing loop"
check "backing-loop with --format qcow2: one short line" one_line backing-loop
refused qcow2-header-no-name map-noname.sh "give --format qcow2 if it is one, --format raw if not"
check "/etc/passwd unchanged" [ "$(sha /etc/passwd)" = "$SHA_PASSWD" ]

# --- L: what is not an image is refused before anything reads it
mkfifo /tmp/fifo
t0=$(t); run fifo map-fifo.sh; t1=$(t)
check "fifo: refused (exit 3) within a second" awk -v a="$t0" -v b="$t1" -v rc="$RC" 'BEGIN { exit !(rc == 3 && b - a < 1.0) }'
check "fifo: says it is a FIFO" said fifo "is a FIFO, not a disk image"
refused dev-zero map-zero.sh "/dev/zero is a character device"
: > $H/empty.img
refused empty map-empty.sh "is empty (0 bytes)"

# --- D: a legitimate overlay beside its base works; the chain is shown
run overlay map-over-rw.sh
check "overlay --rw: exit 0" [ "$RC" = 0 ]
check "overlay: the base's file read through the overlay" content /mnt/nbdforge/over/disk/hello.txt base-content
check "overlay: the chain (overlay <- base, formats pinned) in the table" said overlay "over.qcow2 (qcow2) <- base.raw (raw)"
check "overlay: journal records the chain" grep -q '"chain":"over.qcow2 (qcow2) <- base.raw (raw)"' $STATE/maps/*.jsonl
# --- G: one writer per image
refused second-rw map-over-link-rw.sh "one writer per image"
refused ro-beside-rw map-over-ro.sh "read-write: journal"
refused export-beside-rw export-over.sh "read-write: journal"
check "one writer: the first map still there, alone" [ "$(connected)" = 1 -a "$(journals)" = 1 ]
run over-unmap unmap-all.sh
expect_clean over-unmap
# two --rw maps of one image started together: the allocation lock serialises them, one attaches
sh /share/map-over-rw.sh > /tmp/r1.out 2>&1 & p1=$!; sh /share/map-over-rw-b.sh > /tmp/r2.out 2>&1 & p2=$!; wait $p1; r1=$?; wait $p2; r2=$?
echo "--- two --rw maps at once: exit $r1 and $r2"; grep -h 'one writer' /tmp/r1.out /tmp/r2.out | head -2
check "two --rw maps of one image at once: exactly one attached, the other refused (one writer)" sh -c '[ "$1" = 1 ] && [ "$2" = 1 ] && [ $(( ($3 == 0) + ($4 == 0) )) = 1 ] && grep -q "one writer per image" /tmp/r1.out /tmp/r2.out' sh "$(connected)" "$(journals)" "$r1" "$r2"
run over-rw2-unmap unmap-all.sh
expect_clean over-rw2-unmap
run over-ro map-over-ro.sh
refused ro-beside-ro map-over-ro.sh "give --shared-ro"
run over-ro-shared map-over-shared.sh
check "--shared-ro: a second read-only map beside the first" [ "$RC" = 0 -a "$(connected)" = 2 ]
refused rw-beside-ro map-over-rw.sh "a read-write use beside another"
run over-ro-unmap unmap-all.sh
expect_clean over-ro-unmap

# --- D: a raw image whose first bytes are a qcow2 header stays raw (served, compared byte for byte)
SHA_DISG=$(sha $H/disguised.raw)
run disguised export-disguised.sh
check "disguised.raw: exported (exit 0), warned that it looks like qcow2" [ "$RC" = 0 ] && said disguised "starts with a qcow2 header but is served as raw"
SOCK=$(ls -d /run/nbdforge/export-*/nbd.sock 2>/dev/null | head -1)
check "export: the default is a Unix socket in a root-only directory" sh -c '[ -S "$1" ] && [ "$(stat -c %a "${1%/*}")" = 700 ]' sh "$SOCK"
qemu-img convert -f raw -O raw "nbd+unix:///?socket=$SOCK" /tmp/disg.out > /tmp/conv.txt 2>&1
check "disguised.raw: served as raw (the bytes read back are the file's, qcow2 header and all)" cmp -s /tmp/disg.out $H/disguised.raw
# --- E: another local user gets nothing
as_nobody "qemu-img info 'nbd+unix:///?socket=$SOCK'" > /tmp/nobody.txt 2>&1; nrc=$?
cat /tmp/nobody.txt
check "export: uid 65534 cannot connect to the default export (read)" [ "$nrc" != 0 ] && grep -q "Permission denied" /tmp/nobody.txt
as_nobody "qemu-img convert -n -f raw -O raw /etc/group 'nbd+unix:///?socket=$SOCK'" > /tmp/nobody-w.txt 2>&1; nwrc=$?
check "export: uid 65534 cannot write through it" [ "$nwrc" != 0 ]
check "export: uid 65534 cannot even list the socket's directory" sh -c "! su nobody -s /bin/sh -c 'ls ${SOCK%/*}' >/dev/null 2>&1"
check "export: read-only by default (root's write refused too)" sh -c "! qemu-img convert -n -f raw -O raw /etc/group 'nbd+unix:///?socket=$SOCK' 2>/dev/null"
run disguised-stop export-stop-disguised.sh
check "export --stop: exit 0, socket and its directory gone" [ "$RC" = 0 -a ! -e "$SOCK" -a ! -e "${SOCK%/*}" ]
check "disguised.raw unchanged" [ "$(sha $H/disguised.raw)" = "$SHA_DISG" ]
# --socket at an existing regular file: refused, the file intact; --stop never deletes a regular file
echo precious > /tmp/precious.txt
refused socket-file export-socket-file.sh "exists: export makes its own socket and never replaces a file"
run socket-file-stop export-stop-all.sh
check "socket-file: /tmp/precious.txt intact after export --stop --all" content /tmp/precious.txt precious
run socket-ok export-socket-ok.sh
check "--socket at a free path: exit 0, a socket only root can use" sh -c '[ "$1" = 0 ] && [ -S /tmp/nbdf.sock ] && case $(stat -c %a /tmp/nbdf.sock) in ?00) ;; *) false ;; esac' sh "$RC"
rm -f /tmp/nbdf.sock && echo planted > /tmp/nbdf.sock
run socket-ok-stop export-stop-all.sh
check "export --stop: a regular file planted at the socket's path is left alone" content /tmp/nbdf.sock planted
expect_clean socket-ok-stop

# --- H: a block device the host has mounted read-write
dd if=$H/base.raw of=/tmp/hdev.raw bs=1M 2>/dev/null
LOOPDEV=$(losetup -f --show /tmp/hdev.raw); echo "host block device: $LOOPDEV"
mkdir -p /tmp/hostmnt && mount -t ext4 "$LOOPDEV" /tmp/hostmnt
check "host block device is /dev/loop0 (the scripts name it)" [ "$LOOPDEV" = /dev/loop0 ]
refused bdev-rw map-bdev-rw.sh "/dev/loop0 is mounted on /tmp/hostmnt"
refused bdev-loop-rw map-bdev-loop-rw.sh "/dev/loop0 is mounted on /tmp/hostmnt"
refused bdev-export-rw export-bdev-rw.sh "/dev/loop0 is mounted on /tmp/hostmnt"
run bdev-ro map-bdev-ro.sh
check "bdev read-only map: exit 0, warned that the view may be inconsistent" [ "$RC" = 0 ] && said bdev-ro "this read-only view may be inconsistent"
run bdev-ro-unmap unmap-all.sh
umount /tmp/hostmnt; losetup -d "$LOOPDEV"
expect_clean bdev-ro-unmap
