# precondition "one writer": IMAGE may be used by one writer, or by readers only (--shared-ro lets
# read-only users share it); nbdforge's own journals say who uses it (compared by device and inode,
# links resolved). A block device that the host has mounted, that device-mapper/LVM/md or swap
# holds, or that a process has open is refused for writing (read-only: a warning, in the connect step).
# (args: STATE IMAGE MODE SHARED_RO) Prints the reason and exits 1 on refusal.
nm_img=$2; nm_mode=$3; nm_sro=$4
for nm_j in "$1"/maps/*.jsonl; do
  [ -f "$nm_j" ] || continue
  nm_h=; IFS= read -r nm_h 2>/dev/null < "$nm_j"
  nm_get image "$nm_h"; nm_o=$NM_V
  [ -n "$nm_o" ] && [ "$nm_o" -ef "$nm_img" ] || continue
  nm_get mode "$nm_h"; nm_om=$NM_V; nm_get kind "$nm_h"; nm_ok=$NM_V; nm_get id "$nm_h"
  case $nm_ok in map) nm_ok=mapped ;; *) nm_ok=${nm_ok}ed ;; esac
  nm_w="$nm_img is already $nm_ok ($nm_om"
  [ "$nm_om" = rw ] && { echo "$nm_w, read-write: journal $NM_V): one writer per image; unmap it first"; exit 1; }
  [ "$nm_mode" = rw ] && { echo "$nm_w: journal $NM_V): a read-write use beside another is refused; unmap it first"; exit 1; }
  [ "$nm_sro" = 1 ] || { echo "$nm_w: journal $NM_V): give --shared-ro to use it read-only more than once"; exit 1; }
done
[ "$nm_mode" = rw ] || exit 0
nm_bdev_busy "$nm_img" && { echo "$NM_WHY: refused for a read-write map or export (the host's writes and this one's would be lost)"; exit 1; }
exit 0
