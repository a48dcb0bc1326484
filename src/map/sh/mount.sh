# step "mount": inventory the logical volumes this map activated, mount every filesystem under the
# map's root (read-only unless --rw/--snapshot), record what went where (args: STATE ID)
nm_open "$1" "$2"; nm_device
n=$NM_DEVN
# candidates "DEV|TYPE|NAME": partitions from the lvm step's blk records, then the activated LVs
list=; lvdevs=
nm_cand() {
  l=$1
  case $l in
    *'"kind":"blk"'*)
      nm_get dev "$l"; d=$NM_V; nm_get type "$l"; t=$NM_V
      case $d in "/dev/$n") nm=disk ;; *) nm=p${d##*p} ;; esac
      list="$list$d|$t|$nm$NM_NL" ;;
    *'"ev":"begin","kind":"activate"'*)
      nm_get vg "$l"; v=$NM_V; nm_get orig "$l"; o=$NM_V
      nm_dmesc "$v"; ve=$NM_V
      # LVM links every active (visible) LV as /dev/VG/LV
      for lp in "/dev/$v"/*; do
        [ -e "$lp" ] || continue
        lv=${lp##*/}; nm_dmesc "$lv"; dm=/dev/mapper/$ve-$NM_V
        [ -b "$dm" ] || dm=$lp
        lvdevs="$lvdevs $dm"; list="$list$dm|?|$o-$lv$NM_NL"
      done ;;
  esac
}
nm_each nm_cand
lvtypes=
if [ -n "$lvdevs" ]; then
  blk=$(blkid -c /dev/null -o export $lvdevs 2>/dev/null)
  d=; t=; lb=; u=
  nm_flush() {
    [ -n "$d" ] || return 0
    nm_clean "$lb"; nm_jw info blk dev "$d" type "$t" label "$NM_V" uuid "$u"
    lvtypes="$lvtypes$d|$t$NM_NL"; d=; t=; lb=; u=
  }
  while IFS= read -r l; do
    case $l in DEVNAME=*) nm_flush; d=${l#DEVNAME=} ;; TYPE=*) t=${l#TYPE=} ;; LABEL=*) lb=${l#LABEL=} ;; UUID=*) u=${l#UUID=} ;; esac
  done <<NM_EOF
$blk
NM_EOF
  nm_flush
fi
# what to mount, with which options; directories to make (the root's missing parents first)
plan=; dirs=
if [ ! -d "$ROOT" ]; then
  p=$ROOT; up=
  while [ -n "$p" ] && [ ! -d "$p" ]; do up="$p$NM_NL$up"; p=${p%/*}; done
  dirs=$up
fi
while IFS='|' read -r d t nm; do
  [ -n "$d" ] || continue
  if [ "$t" = '?' ]; then
    t=
    case "$NM_NL$lvtypes" in *"$NM_NL$d|"*) t=${lvtypes#*"$d|"}; t=${t%%"$NM_NL"*} ;; esac
  fi
  opts=; why=
  case $t in
    ext2) opts=ro ;;
    ext3 | ext4) opts=ro,noload ;;
    xfs) opts=ro,norecovery,nouuid ;;
    btrfs | vfat | exfat | ntfs | ntfs3 | iso9660 | udf | f2fs | hfsplus | jfs) opts=ro ;;
    LVM2_member) why="LVM physical volume" ;;
    swap) why="swap" ;;
    crypto_LUKS) why="encrypted (LUKS): open it with cryptsetup" ;;
    '') why="no filesystem" ;;
    *) why="not mounted: $t" ;;
  esac
  if [ -n "$opts" ] && [ "$MODE" != ro ]; then
    case $t in xfs) opts=rw,nouuid ;; *) opts=rw ;; esac
  fi
  [ -n "$opts" ] && [ ! -d "$ROOT/$nm" ] && dirs="$dirs$ROOT/$nm$NM_NL"
  plan="$plan$d|$t|$nm|$opts|$why$NM_NL"
done <<NM_EOF
$list
NM_EOF
if [ -n "$dirs" ]; then
  # one mkdir for all of them, each journaled, so unmap removes exactly what map made
  first=$((NM_SEQ + 1)); set --
  while IFS= read -r m; do [ -n "$m" ] && { nm_begin mkdir dir "$m"; set -- "$@" "$m"; }; done <<NM_EOF
$dirs
NM_EOF
  mkdir "$@" || nm_die "cannot create the mount directories under $ROOT"
  for m; do nm_done "$first"; first=$((first + 1)); done
fi
while IFS='|' read -r d t nm opts why; do
  [ -n "$d" ] || continue
  dir=
  if [ -n "$opts" ]; then
    dir=$ROOT/$nm
    nm_begin mount src "$d" dir "$dir" type "$t" opts "$opts"
    if out=$(mount -t "$t" -o "$opts" "$d" "$dir" 2>&1); then
      nm_done
    else
      nm_end failed "$NM_ACT"; nm_clean "$(nm_last "$out")"; why="mount failed: $NM_V"; dir=; opts=
    fi
  fi
  nm_jw info fs dev "$d" type "$t" name "$nm" dir "$dir" opts "$opts" why "$why"
done <<NM_EOF
$plan
NM_EOF
nm_jw info mapped dev "$NM_DEV" root "$ROOT"
