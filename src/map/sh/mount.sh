# step "mount": inventory the logical volumes this map activated, mount every filesystem under the
# map's root (read-only unless --rw/--snapshot), record what went where (args: STATE ID)
nm_open "$1" "$2"; nm_device
n=$NM_DEVN
# (dev type label uuid name) per candidate: partitions from the lvm step's blk records, then LVs
list=
vgmap=
while IFS= read -r l; do
  case $l in
    *'"kind":"blk"'*)
      nm_get dev "$l"; d=$NM_V; nm_get type "$l"; t=$NM_V
      case $d in "/dev/$n") nm=disk ;; *) nm=p${d##*p} ;; esac
      list="$list$d|$t|$nm|$l$NM_NL" ;;
    *'"ev":"begin","kind":"activate"'*)
      nm_get vg "$l"; v=$NM_V; nm_get vguuid "$l"; nm_nodash "$NM_V"; u=$NM_V; nm_get orig "$l"
      vgmap="$vgmap$u|$v|$NM_V$NM_NL" ;;
  esac
done < "$NM_J"
if [ -n "$vgmap" ]; then
  # LV devices by device-mapper uuid: LVM-<vg uuid><lv uuid>, without the -suffix of internal layers
  lvdevs=
  for e in $(dmsetup info -c --noheadings --separator '|' -o uuid,name 2>/dev/null); do
    du=${e%%|*}; dn=${e#*|}
    case $du in LVM-*) ;; *) continue ;; esac
    [ ${#du} -eq 68 ] || continue
    while IFS='|' read -r u v o; do
      [ -n "$u" ] || continue
      case $du in "LVM-$u"*)
        nm_dmesc "$v"; lv=${dn#"$NM_V"-}; nm_dmunesc "$lv"
        lvdevs="$lvdevs /dev/mapper/$dn"; list="$list/dev/mapper/$dn||$o-$NM_V|$NM_NL" ;;
      esac
    done <<NM_EOF
$vgmap
NM_EOF
  done
  if [ -n "$lvdevs" ]; then
    blk=$(blkid -c /dev/null -o export $lvdevs 2>/dev/null)
    d=; t=; lb=; u=
    nm_flush() {
      [ -n "$d" ] || return 0
      nm_clean "$lb"
      NM_SEQ=$((NM_SEQ + 1))
      printf '{"seq":%s,"ev":"info","kind":"blk","dev":"%s","type":"%s","label":"%s","uuid":"%s"}\n' "$NM_SEQ" "$d" "$t" "$NM_V" "$u" >> "$NM_J"
      list=$(printf '%s\n' "$list" | sed "s#^$d||#$d|$t|#")$NM_NL
      d=; t=; lb=; u=
    }
    while IFS= read -r l; do
      case $l in DEVNAME=*) nm_flush; d=${l#DEVNAME=} ;; TYPE=*) t=${l#TYPE=} ;; LABEL=*) lb=${l#LABEL=} ;; UUID=*) u=${l#UUID=} ;; esac
    done <<NM_EOF
$blk
NM_EOF
    nm_flush
  fi
fi
rootmade=0
nm_mkdir() {
  [ -d "$1" ] && return 0
  nm_begin mkdir dir "$1"
  mkdir "$1" || nm_die "cannot create $1"
  nm_done
}
while IFS='|' read -r d t nm rest; do
  [ -n "$d" ] || continue
  dir=; why=; opts=
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
  if [ -n "$opts" ]; then
    if [ ! -d "$ROOT" ]; then
      # create the missing parents of the root, each journaled so that unmap removes only what map made
      while [ ! -d "$ROOT" ]; do
        p=$ROOT; while [ -n "${p%/*}" ] && [ ! -d "${p%/*}" ]; do p=${p%/*}; done
        nm_mkdir "$p"
      done
    fi
    dir=$ROOT/$nm
    nm_mkdir "$dir"
    nm_begin mount src "$d" dir "$dir" type "$t" opts "$opts"
    if out=$(mount -t "$t" -o "$opts" "$d" "$dir" 2>&1); then
      nm_done
    else
      nm_end failed "$NM_ACT"; nm_clean "$(nm_last "$out")"; why="mount failed: $NM_V"; dir=; opts=
    fi
  fi
  nm_jw info fs dev "$d" type "$t" name "$nm" dir "$dir" opts "$opts" why "$why"
done <<NM_EOF
$list
NM_EOF
nm_jw info mapped dev "$NM_DEV" root "$ROOT"
