# nbdforge compose library (POSIX sh), used with the map library's journal functions (nm_jw,
# nm_begin, nm_done, nm_get, nm_lock: src/host/sh/lib.sh). A composite's journal is
# $STATE/composes/<name>.jsonl; its head and tail files and its dm table sit beside it.
# cm_open STATE NAME: the journal, its header fields, the record count (records go on numbering).
cm_open() {
  NM_STATE=$1; CM_NAME=$2; CM_D=$1/composes; NM_J=$CM_D/$2.jsonl
  [ -f "$NM_J" ] || nm_die "no journal $NM_J"
  NM_SEQ=0; CM_HEAD=; NM_ALL=
  while IFS= read -r nm_l; do NM_SEQ=$((NM_SEQ + 1)); [ -z "$CM_HEAD" ] && CM_HEAD=$nm_l; NM_ALL=$NM_ALL$nm_l$NM_NL; done < "$NM_J"
  nm_get volume "$CM_HEAD"; CM_VOL=$NM_V
  nm_get dir "$CM_HEAD"; CM_D=$NM_V
  return 0
}
# dmsetup without udev (rescue shells, test guests) makes and removes the /dev/mapper nodes itself.
cm_dmsetup() { if [ -e /run/udev/control ]; then dmsetup "$@"; else DM_DISABLE_UDEV=1 dmsetup "$@"; fi; }
# cm_dm_uuid NAME: the uuid of device-mapper device NAME in CM_U (read from sysfs, no process); status 1 if absent.
cm_dm_uuid() {
  for cm_x in /sys/block/dm-*; do
    cm_n=; read -r cm_n < "$cm_x/dm/name" 2> /dev/null
    [ "$cm_n" = "$1" ] || continue
    CM_U=; read -r CM_U < "$cm_x/dm/uuid" 2> /dev/null; return 0
  done
  return 1
}
# cm_loops FILE: the loop devices backed by FILE (also once it was deleted), in CM_LOOPS.
cm_loops() {
  CM_LOOPS=
  for cm_x in /sys/block/loop*/loop/backing_file; do
    cm_b=; read -r cm_b < "$cm_x" 2> /dev/null
    case $cm_b in "$1" | "$1 (deleted)") cm_x=${cm_x#/sys/block/}; CM_LOOPS="$CM_LOOPS /dev/${cm_x%%/*}" ;; esac
  done
}
