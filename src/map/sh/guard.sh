# precondition "one writer": IMAGE may be used by one writer, or by readers only (--shared-ro lets
# read-only users share it); nbdforge's own journals say who uses it (compared by device and inode,
# links resolved). A block device that the host has mounted, that device-mapper/LVM/md or swap
# holds, or that a process has open is refused for writing (read-only: a warning, in the connect step).
# (args: STATE IMAGE MODE SHARED_RO) Prints the reason and exits 1 on refusal.
nm_img=$2; nm_mode=$3
nm_writers "$1" "$2" "$3" "$4" && { echo "$NM_WHY"; exit 1; }
[ "$nm_mode" = rw ] || exit 0
nm_bdev_busy "$nm_img" && { echo "$NM_WHY: refused for a read-write map or export (the host's writes and this one's would be lost)"; exit 1; }
exit 0
