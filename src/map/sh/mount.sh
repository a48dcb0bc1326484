# step "mount": inventory the logical volumes this map activated, mount every filesystem under the
# map's root (read-only unless --rw/--snapshot), record what went where (args: STATE ID)
# The filesystems are the image's: every mount is nosuid,nodev (and noexec unless --exec), ext2/3/4
# with errors=remount-ro whatever their superblock says (errors=panic there would let an image take
# the host down); a filesystem is mounted once at most, and read-only where partitions overlap.
nm_open "$1" "$2"; nm_device
umask 077
n=$NM_DEVN
nm_get mount "$NM_HEAD"; nm_mount=${NM_V:-1}
nm_get exec "$NM_HEAD"; nm_safe=nosuid,nodev,noexec; [ "$NM_V" = 1 ] && nm_safe=nosuid,nodev
list=; lvdevs=
nm_cand() {
  l=$1
  case $l in
    *'"kind":"blk"'*)
      nm_get dev "$l"; d=$NM_V; nm_get type "$l"; t=$NM_V; nm_get uuid "$l"; u=$NM_V
      case $d in "/dev/$n") nm=disk ;; *) nm=p${d##*p} ;; esac
      list="$list$d|$t|$nm|$u$NM_NL" ;;
    *'"ev":"begin","kind":"activate"'*)
      nm_get vg "$l"; v=$NM_V; nm_get orig "$l"; o=$NM_V
      nm_dmesc "$v"; ve=$NM_V
      # LVM links every active (visible) LV as /dev/VG/LV (names may begin with '.')
      for lp in "/dev/$v"/* "/dev/$v"/.[!.]* "/dev/$v"/..?*; do
        [ -e "$lp" ] || continue
        lv=${lp##*/}; nm_dmesc "$lv"; dm=/dev/mapper/$ve-$NM_V
        [ -b "$dm" ] || dm=$lp
        lvdevs="$lvdevs $dm"; list="$list$dm|?|$o-$lv|$NM_NL"
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
    nm_jw info blk dev "$d" type "$t" label "$lb" uuid "$u"
    lvtypes="$lvtypes$d|$t|$u$NM_NL"; d=; t=; lb=; u=
  }
  while IFS= read -r l; do
    case $l in DEVNAME=*) nm_flush; d=${l#DEVNAME=} ;; TYPE=*) t=${l#TYPE=} ;; LABEL=*) nm_unbs "${l#LABEL=}"; lb=$NM_V ;; UUID=*) nm_unbs "${l#UUID=}"; u=$NM_V ;; esac
  done <<NM_EOF
$blk
NM_EOF
  nm_flush
fi
# what to mount, with which options (nm_opts TYPE RW: in opts, or why not in why)
nm_opts() {
  opts=; why=
  case $1 in
    ext2 | ext3 | ext4) if [ "$2" = 1 ]; then opts=rw; elif [ "$1" = ext2 ]; then opts=ro; else opts=ro,noload; fi; opts=$opts,errors=remount-ro ;;
    xfs) if [ "$2" = 1 ]; then opts=rw,nouuid; else opts=ro,norecovery,nouuid; fi ;;
    btrfs | vfat | exfat | ntfs | ntfs3 | iso9660 | udf | f2fs | hfsplus | jfs) if [ "$2" = 1 ]; then opts=rw; else opts=ro; fi ;;
    LVM2_member) why="LVM physical volume" ;;
    swap) why="swap" ;;
    crypto_LUKS) why="encrypted (LUKS): open it with cryptsetup" ;;
    '') why="no filesystem" ;;
    *) why="not mounted: $1" ;;
  esac
  [ -z "$opts" ] || opts=$opts,$nm_safe
  [ "$nm_mount" = 1 ] || [ -z "$opts" ] || { opts=; why="not mounted (--no-mount)"; }
}
nm_rw=1; [ "$MODE" = ro ] && nm_rw=0
# partitions' extents ("NAME START END" in sectors, from sysfs: read by the shell) of every mountable
# one, to find those that overlap (two entries over one filesystem, an EBR chain that loops)
plan=; dirs=; seen=$NM_NL; ranges=
nm_extent() { # DEV: its start and end in ps pe (status 1 for the whole disk or an LV)
  case $1 in /dev/"$n"p*) ;; *) return 1 ;; esac
  ps=; pz=; read -r ps < "/sys/block/$n/${1#/dev/}/start" && read -r pz < "/sys/block/$n/${1#/dev/}/size" || return 1
  pe=$((ps + pz))
}
while IFS='|' read -r d t nm u; do
  [ -n "$d" ] || continue
  if [ "$t" = '?' ]; then
    t=
    nm_x=$NM_NL$lvtypes
    case $nm_x in *"$NM_NL$d|"*) t=${nm_x#*"$NM_NL$d|"}; t=${t%%"$NM_NL"*}; u=${t#*|}; t=${t%%|*} ;; esac
  fi
  nm_opts "$t" "$nm_rw"
  if [ -n "$opts" ] && nm_extent "$d"; then ranges="$ranges$nm $ps $pe$NM_NL"; fi
  # one filesystem (by its UUID) is mounted once: a second partition over it would be a second mount
  if [ -n "$opts" ] && [ -n "$u" ]; then
    case $seen in
      *"$NM_NL$u|"*) nm_x=${seen#*"$NM_NL$u|"}; opts=; why="the same filesystem as ${nm_x%%"$NM_NL"*} (overlapping partitions?): mounted once" ;;
      *) seen="$seen$u|$nm$NM_NL" ;;
    esac
  fi
  plan="$plan$d|$t|$nm|$opts|$why$NM_NL"
done <<NM_EOF
$list
NM_EOF
# a mounted partition that overlaps another: read-only (two writers of the same blocks lose data)
nm_plan=$plan; plan=
while IFS='|' read -r d t nm opts why; do
  [ -n "$d" ] || continue
  if [ -n "$opts" ] && [ -n "$ranges" ] && nm_extent "$d"; then
    nm_ov=
    while read -r nm_on nm_os nm_oe; do
      [ -n "$nm_on" ] && [ "$nm_on" != "$nm" ] && [ "$nm_os" -lt "$pe" ] && [ "$ps" -lt "$nm_oe" ] && { nm_ov=$nm_on; break; }
    done <<NM_EOF
$ranges
NM_EOF
    if [ -n "$nm_ov" ]; then
      [ "$nm_rw" = 1 ] && { nm_opts "$t" 0; nm_warn "$d overlaps partition $nm_ov of the same disk: mounted read-only"; }
    fi
  fi
  [ -n "$opts" ] && dirs="$dirs$ROOT/$nm$NM_NL"
  plan="$plan$d|$t|$nm|$opts|$why$NM_NL"
done <<NM_EOF
$nm_plan
NM_EOF
# the root was made by the journal step (0700, root's): it must still be that directory
[ -z "$dirs" ] || { [ -d "$ROOT" ] && [ ! -L "$ROOT" ]; } || nm_die "the mount root $ROOT is gone or was replaced"
if [ -n "$dirs" ]; then
  # one mkdir for all of them (new names inside the root: no link to follow), each journaled, so unmap removes exactly what map made
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
      nm_end failed "$NM_ACT"; why="mount failed: $(nm_last "$out")"; dir=; opts=
      nm_warn "$d ($t): $why"
    fi
  fi
  nm_jw info fs dev "$d" type "$t" name "$nm" dir "$dir" opts "$opts" why "$why"
done <<NM_EOF
$plan
NM_EOF
nm_jw info mapped dev "$NM_DEV" root "$ROOT"
