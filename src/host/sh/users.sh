# nbdforge map library, part 4: who else uses an image (see refs.sh; joined to the library by
# src/host/sh-library.ts): a block device the host uses, and nbdforge's own maps and exports of it.
# nm_bdev_busy FILE: a block device (or one of its partitions) mounted, held by device-mapper/LVM/md,
# used as swap or open in a process; the first reason in NM_WHY.
nm_bdev_busy() {
  [ -b "$1" ] || return 1
  nm_bn=$(readlink -f -- "$1"); nm_bn=${nm_bn##*/}; nm_sys=/sys/class/block/$nm_bn
  for nm_bd in "$nm_sys" "$nm_sys"/"$nm_bn"*; do
    [ -r "$nm_bd/dev" ] || continue
    nm_n=${nm_bd##*/}; read -r nm_mm 2>/dev/null < "$nm_bd/dev"
    for nm_hd in "$nm_bd"/holders/*; do [ -e "$nm_hd" ] && { NM_WHY="/dev/$nm_n is held by ${nm_hd##*/} (device-mapper, LVM or md)"; return 0; }; done
    while read -r nm_a nm_b nm_c nm_d nm_e nm_r; do [ "$nm_c" = "$nm_mm" ] && { NM_WHY="/dev/$nm_n is mounted on $nm_e"; return 0; }; done < /proc/self/mountinfo
    while read -r nm_a nm_r; do [ "$nm_a" -ef "/dev/$nm_n" ] 2>/dev/null && { NM_WHY="/dev/$nm_n is in use as swap"; return 0; }; done < /proc/swaps
    [ -b "/dev/$nm_n" ] && nm_held "/dev/$nm_n" && { NM_WHY="/dev/$nm_n is open in process $NM_V (${NM_HELD_BY:-?})"; return 0; }
  done
  return 1
}
# nm_writers STATE IMAGE MODE SHARED_RO [OWN_JOURNAL]: does another map or export's use of IMAGE
# exclude this one (reason in NM_WHY)? One writer, or readers only (--shared-ro lets read-only uses
# share); compared by device and inode, links resolved. With OWN_JOURNAL (the connect step, under
# the allocation lock) only journals that got as far as attaching or serving count, so of two maps
# started together the first to attach wins and the second is refused.
nm_writers() {
  for nm_j in "$1"/maps/*.jsonl; do
    [ -f "$nm_j" ] && [ "$nm_j" != "$5" ] || continue
    nm_h=; IFS= read -r nm_h 2>/dev/null < "$nm_j"
    nm_get image "$nm_h"; nm_o=$NM_V
    [ -n "$nm_o" ] && [ "$nm_o" -ef "$2" ] || continue
    [ -z "$5" ] || grep -qsE '"ev":"begin","kind":"(connect|loop|export)"' "$nm_j" || continue
    nm_get mode "$nm_h"; nm_om=$NM_V; nm_get kind "$nm_h"; nm_ok=$NM_V; nm_get id "$nm_h"
    case $nm_ok in map) nm_ok=mapped ;; *) nm_ok=${nm_ok}ed ;; esac
    nm_w="$2 is already $nm_ok ($nm_om"
    if [ "$nm_om" = rw ]; then NM_WHY="$nm_w, read-write: journal $NM_V): one writer per image; unmap it first"
    elif [ "$3" = rw ]; then NM_WHY="$nm_w: journal $NM_V): a read-write use beside another is refused; unmap it first"
    elif [ "$4" != 1 ]; then NM_WHY="$nm_w: journal $NM_V): give --shared-ro to use it read-only more than once"
    else continue; fi
    return 0
  done
  return 1
}
