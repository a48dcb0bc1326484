# step "unmap": undo, newest first, every action the matching journals began and did not undo:
# unmount, remove the directories map made, deactivate, rename VGs back (--rw), disconnect, stop
# servers. Each undo checks first (is it mounted, is this device still serving this image), so it is
# exact after a kill -9 at any point and after a reboot. A journal whose actions are all undone is
# removed; one with a failed undo stays for the next run. A filesystem that cannot be unmounted (busy)
# stops that journal's undo there: its device stays connected and its VGs active (disconnecting
# under a mounted filesystem loses what was written), the holders are named, unmap exits 1 and the
# next run resumes. (args: STATE SELECTOR STRICT)
# SELECTOR: all | id:ID | image:PATH | dev:/dev/X
NM_STATE=$1; sel=$2; strict=$3
case $sel in image:*) want=$(readlink -f -- "${sel#image:}") || want=${sel#image:} ;; dev:*) want=$(readlink -f -- "${sel#dev:}") || want=${sel#dev:} ;; *) want=${sel#*:} ;; esac
umask 077
# journals another user could plant or change would be obeyed by root: refuse such a state dir
nm_safe_dir "$NM_STATE" "state dir"
[ -d "$NM_STATE" ] || mkdir -p "$NM_STATE"
summary=$NM_STATE/last-unmap.txt
: > "$summary"
nm_say() { printf '%s\n' "$*" >> "$summary"; printf '%s\n' "$*"; }

nm_wait_gone() { nm_i=0; while [ -e "$1" ]; do nm_i=$((nm_i + 1)); [ $nm_i -gt 100 ] && return 1; sleep 0.1; done; }
# directories are removed together once the journal's other undos are done (one rmdir, children
# first); one another map still uses (a shared parent) is tried again once every journal is done.
# After a stop (a busy mount) a directory still there stays in the journal for the next run.
nm_rmdirs() {
  [ -n "$nm_dirs" ] || return 0
  set --; while IFS='|' read -r nm_s nm_x; do [ -n "$nm_x" ] && [ -d "$nm_x" ] && [ ! -L "$nm_x" ] && set -- "$@" "$nm_x"; done <<NM_EOF
$nm_dirs
NM_EOF
  [ $# = 0 ] || rmdir "$@" 2>/dev/null || for nm_x; do [ -d "$nm_x" ] && [ "$nm_stop" = 0 ] && nm_left="$nm_left$nm_x$NM_NL"; done
  while IFS='|' read -r nm_s nm_x; do
    [ -n "$nm_s" ] || continue
    if [ "$nm_stop" = 0 ] || [ ! -d "$nm_x" ]; then nm_end undone "$nm_s"; fi
  done <<NM_EOF
$nm_dirs
NM_EOF
}
# nm_holders DIR: the processes whose working directory, root or an open file lies under DIR
# ("PID(NAME)" words in NM_V), from one ls of /proc (as fuser -vm would tell; not every host has it)
nm_holders() {
  NM_V=; nm_hp=; nm_hs=' '
  nm_o=$(LC_ALL=C ls -l /proc/[0-9]*/cwd /proc/[0-9]*/root /proc/[0-9]*/fd 2> /dev/null)
  while IFS= read -r nm_l; do
    case $nm_l in
      /proc/*/fd:) nm_hp=${nm_l#/proc/}; nm_hp=${nm_hp%%/*}; continue ;;
      *" -> $1" | *" -> $1/"*) ;;
      *) continue ;;
    esac
    case $nm_l in *" /proc/"[0-9]*" -> "*) nm_hx=${nm_l#* /proc/}; nm_hx=${nm_hx%%/*} ;; *) nm_hx=$nm_hp ;; esac
    nm_hx=${nm_hx%%[!0-9]*}
    case $nm_hs in *" $nm_hx "*) continue ;; esac
    nm_hs="$nm_hs$nm_hx "
    nm_c=; read -r nm_c < "/proc/$nm_hx/comm" 2> /dev/null
    NM_V="$NM_V $nm_hx($nm_c)"
  done <<NM_EOF
$nm_o
NM_EOF
}
# nm_dev_busy DEV: is anything made from DEV (its partitions, a device-mapper device on them) still
# mounted, held, or open in a process? What, in NM_V.
nm_dev_busy() {
  nm_bn=${1#/dev/}; NM_V=
  for nm_x in "/sys/block/$nm_bn/holders/"* "/sys/block/$nm_bn/$nm_bn"*/holders/*; do
    [ -e "$nm_x" ] || continue
    nm_y=; read -r nm_y < "$nm_x/dm/name" 2> /dev/null
    NM_V="/dev/${nm_x##*/}${nm_y:+ (/dev/mapper/$nm_y)} holds it"; return 0
  done
  while read -r nm_a nm_b nm_r; do
    case $nm_a in "$1" | "$1"p[0-9]*) NM_V="$nm_a is mounted on $nm_b"; return 0 ;; esac
  done < /proc/self/mounts
  # a process with the device or a partition open (dd, a shell's redirection, a backup agent):
  # disconnecting would cut it off mid-write. Asked three times a second apart, so a passing probe
  # (udev, blkid right after an unmount) is not taken for a user.
  for nm_try in 1 2 3; do
    nm_dev_open "$1" || return 1
    [ "$nm_try" = 3 ] || sleep 1
  done
  return 0
}
# nm_dev_open DEV: a process other than qemu-nbd (whose hold on the device is the connection) has DEV
# or one of its partitions open; which, in NM_V.
nm_dev_open() {
  for nm_x in "$1" "$1"p[0-9]*; do
    [ -b "$nm_x" ] || continue
    for nm_f in /proc/[0-9]*/fd/*; do
      [ "$nm_f" -ef "$nm_x" ] || continue
      nm_p=${nm_f#/proc/}; nm_p=${nm_p%%/*}; nm_c=; read -r nm_c 2>/dev/null < "/proc/$nm_p/comm"
      [ "$nm_x" = "$1" ] && [ "$nm_c" = qemu-nbd ] && continue
      NM_V="$nm_x is open in process $nm_p (${nm_c:-?}; see: fuser -v $nm_x)"; return 0
    done
  done
  return 1
}
nm_left=
# The VG's active LVs are the device-mapper devices whose uuid is LVM-<vg uuid><lv uuid> (read from
# sysfs by the shell): NM_DMS holds those nothing else holds (they go first), NM_HELD the others.
nm_vg_dms() {
  NM_DMS=; NM_HELD=
  for nm_x in /sys/block/dm-*; do
    nm_id=; read -r nm_id 2>/dev/null < "$nm_x/dm/uuid"
    case $nm_id in "LVM-$1"*) ;; *) continue ;; esac
    read -r nm_n < "$nm_x/dm/name"
    nm_h=; for nm_y in "$nm_x"/holders/*; do [ -e "$nm_y" ] && nm_h=1 && break; done
    if [ -n "$nm_h" ]; then NM_HELD="$NM_HELD $nm_n"; else NM_DMS="$NM_DMS $nm_n"; fi
  done
}
# Deactivation removes the VG's device-mapper devices, holders first: a dmsetup start costs a third of
# an lvm start under QEMU TCG, and the same works when the PVs are gone (device disconnected, host
# rebooted). The kernel refuses a device in use (a mount) as vgchange -an would. Without udev,
# dmsetup removes the /dev/mapper nodes itself (DM_DISABLE_UDEV=1) and the /dev/VG links LVM made go.
nm_undo_activate() {
  nm_get vg "$1"; nm_vg=$NM_V; nm_get vguuid "$1"; nm_nodash "$NM_V"; nm_u=$NM_V
  [ -n "$nm_u" ] || { nm_say "cannot deactivate VG $nm_vg: the journal has no VG uuid"; return 1; }
  nm_vg_dms "$nm_u"; nm_did=0; nm_lvm=0
  while [ -n "$NM_DMS$NM_HELD" ]; do
    nm_was="$NM_DMS$NM_HELD"
    if [ -n "$NM_DMS" ]; then
      if [ -e /run/udev/control ]; then dmsetup remove $NM_DMS > /dev/null 2>&1; else DM_DISABLE_UDEV=1 dmsetup remove $NM_DMS > /dev/null 2>&1; fi
      nm_did=1; nm_vg_dms "$nm_u"
    fi
    [ "$nm_was" != "$NM_DMS$NM_HELD" ] && continue
    # no progress (no dmsetup here, or a stack it cannot take apart): LVM's own deactivation, once
    if [ "$nm_lvm" = 0 ]; then
      nm_lvm=1; nm_get dev "$1"; nm_devre "${NM_V#/dev/}"; nm_lvm_cfg a "$NM_V"
      lvm vgchange -an --config "$NM_CFG" "$nm_vg" > /dev/null 2>&1; nm_did=1; nm_vg_dms "$nm_u"; continue
    fi
    nm_say "cannot deactivate VG $nm_vg:$NM_DMS$NM_HELD still active (in use? see: dmsetup info$NM_DMS$NM_HELD)"; nm_stop=1; return 1
  done
  case $nm_vg in '' | . | .. | */*) ;; *) [ -e /run/udev/control ] || [ ! -d "/dev/$nm_vg" ] || rm -rf "/dev/$nm_vg" ;; esac
  [ "$nm_did" = 1 ] && nm_say "deactivated VG $nm_vg"
  nm_get pvmm "$1"; [ -n "$NM_V" ] && nm_rescan="$nm_rescan $NM_V"
  return 0
}
nm_undo_rename() {
  nm_get persist "$1"; [ "$NM_V" = 1 ] || return 0
  nm_get from "$1"; nm_from=$NM_V; nm_get to "$1"; nm_to=$NM_V; nm_get dev "$1"; nm_d=$NM_V; nm_get image "$1"; nm_img=$NM_V
  nm_p=; read -r nm_p 2>/dev/null < "/sys/block/${nm_d#/dev/}/pid"
  nm_tmp=
  if [ -z "$nm_p" ] || ! nm_pid_has "$nm_p" "$nm_img"; then
    # the map is gone (host rebooted, qemu-nbd killed): attach the image again for the rename alone
    nm_get format "$1"
    if [ -z "$NM_V" ] || [ ! -e "$nm_img" ] || ! nm_attach "$nm_img" "$NM_V"; then
      nm_say "cannot rename VG $nm_to back to $nm_from: $nm_img is no longer attached and could not be attached again (map it with --rw, then: lvm vgrename $nm_to $nm_from)"
      return 1
    fi
    nm_d=$NM_ADEV; nm_tmp=$NM_ADEV
  fi
  nm_devre "${nm_d#/dev/}"; nm_lvm_cfg a "$NM_V"
  # vgrename refuses a name /dev/<name> already exists for: the host's or another map's VG of the
  # same name, which is why this one was renamed. The check reads devices/dir; point it at an empty
  # directory (devices are still found by devices/scan, i.e. /dev).
  mkdir -p "$NM_STATE/empty-devdir"
  nm_out=$(lvm vgrename --config "$NM_CFG devices { dir=\"$NM_STATE/empty-devdir\" scan=[ \"/dev\" ] }" "$nm_to" "$nm_from" 2>&1) || {
    # already renamed back (an earlier unmap died after the rename)?
    lvm vgs --config "$NM_CFG" "$nm_from" > /dev/null 2>&1 && return 0
    nm_say "cannot rename VG $nm_to back to $nm_from: $(nm_last "$nm_out")"; return 1
  }
  nm_say "renamed VG $nm_to back to $nm_from in $nm_img${nm_tmp:+ (attached again on $nm_tmp for it)}"
  [ -z "$nm_tmp" ] || nm_detach "$nm_tmp"
  return 0
}
# nm_attach IMAGE FORMAT: a free /dev/nbdN serving IMAGE read-write, in NM_ADEV; only for the rename
# back (nm_detach follows in the same undo, so it needs no journal of its own)
nm_attach() {
  [ -b /dev/nbd0 ] || return 1
  mkdir -p "$NM_STATE/locks"; nm_lock "$NM_STATE/locks/alloc"
  NM_ADEV=
  for nm_x in /dev/nbd*; do
    case ${nm_x#/dev/nbd} in '' | *[!0-9]*) continue ;; esac
    [ -e "/sys/block/${nm_x#/dev/}/pid" ] || { NM_ADEV=$nm_x; break; }
  done
  if [ -z "$NM_ADEV" ] || ! (cd -- "${1%/*}/" && qemu-nbd --connect="$NM_ADEV" --format="$2" "$1") > /dev/null 2>&1; then nm_unlock; return 1; fi
  nm_i=0
  while :; do
    nm_sz=0; [ -e "/sys/block/${NM_ADEV#/dev/}/pid" ] && read -r nm_sz < "/sys/block/${NM_ADEV#/dev/}/size"
    [ "$nm_sz" != 0 ] && break
    nm_i=$((nm_i + 1)); [ $nm_i -gt 150 ] && { nm_unlock; nm_detach "$NM_ADEV"; return 1; }
    sleep 0.1
  done
  nm_unlock
  blockdev --rereadpt "$NM_ADEV" > /dev/null 2>&1
  return 0
}
nm_detach() { qemu-nbd --disconnect "$1" > /dev/null 2>&1; nm_wait_gone "/sys/block/${1#/dev/}/pid"; }
nm_undo_importclone() { return 0; }
nm_undo_connect() {
  nm_get dev "$1"; nm_d=$NM_V; nm_get image "$1"; nm_img=$NM_V
  nm_pf=/sys/block/${nm_d#/dev/}/pid
  nm_p=; read -r nm_p 2>/dev/null < "$nm_pf"
  [ -n "$nm_p" ] || return 0
  nm_pid_has "$nm_p" "$nm_img" || return 0 # another image took the device since: not ours to touch
  nm_dev_busy "$nm_d" && { nm_say "not disconnecting $nm_d: $NM_V"; nm_stop=1; return 1; }
  qemu-nbd --disconnect "$nm_d" > /dev/null 2>&1 || { nm_say "qemu-nbd --disconnect $nm_d failed"; return 1; }
  nm_wait_gone "$nm_pf" || { nm_say "$nm_d still connected"; return 1; }
  nm_say "disconnected $nm_d"
}
nm_undo_loop() {
  nm_get dev "$1"; nm_d=$NM_V; nm_get image "$1"; nm_img=$NM_V
  nm_bf=; read -r nm_bf 2>/dev/null < "/sys/block/${nm_d#/dev/}/loop/backing_file"
  [ "$nm_bf" = "$nm_img" ] || return 0
  nm_dev_busy "$nm_d" && { nm_say "not detaching $nm_d: $NM_V"; nm_stop=1; return 1; }
  losetup -d "$nm_d" || return 1
  nm_say "detached $nm_d"
}
nm_undo_export() {
  nm_get pidfile "$1"; nm_pf=$NM_V; nm_get image "$1"; nm_img=$NM_V
  nm_p=; read -r nm_p 2>/dev/null < "$nm_pf"
  if [ -n "$nm_p" ] && nm_pid_has "$nm_p" "$nm_img"; then
    # qemu-nbd unlinks its socket path as it exits: when something else now sits there, no clean exit
    nm_get socket "$1"; if [ -n "$NM_V" ] && [ -e "$NM_V" ] && [ ! -S "$NM_V" ]; then kill -9 "$nm_p" 2> /dev/null; else kill "$nm_p" 2> /dev/null; fi
    nm_i=0; while kill -0 "$nm_p" 2> /dev/null; do nm_i=$((nm_i + 1)); [ $nm_i -gt 50 ] && kill -9 "$nm_p"; [ $nm_i -gt 100 ] && return 1; sleep 0.1; done
    nm_say "stopped the qemu-nbd server (pid $nm_p) for $nm_img"
  fi
  rm -f "$nm_pf" "${nm_pf%.pid}.log"
  nm_get socket "$1"; [ -n "$NM_V" ] && [ -S "$NM_V" ] && rm -f "$NM_V" # never a file someone put there
  nm_get sockdir "$1"; [ -n "$NM_V" ] && [ -d "$NM_V" ] && rmdir "$NM_V" 2> /dev/null
  return 0
}

nm_unmap_one() {
  NM_J=$1; NM_SEQ=0; nm_undone=' '; nm_dirs=; nm_todo=; nm_rescan=; nm_stop=0
  # the begun, not yet undone actions, newest first (collected by the shell: no process per record)
  while IFS= read -r nm_l; do
    NM_SEQ=$((NM_SEQ + 1))
    case $nm_l in
      *'"ev":"undone"'*) nm_get of "$nm_l"; nm_undone="$nm_undone$NM_V " ;;
      *'"ev":"begin"'*) nm_todo="$nm_l$NM_NL$nm_todo" ;;
    esac
  done < "$NM_J"
  nm_fail=0; nm_mnts=; nm_mseqs=
  while IFS= read -r nm_l; do
    [ -n "$nm_l" ] || continue
    nm_get seq "$nm_l"; nm_s=$NM_V
    case $nm_undone in *" $nm_s "*) continue ;; esac
    nm_get kind "$nm_l"; nm_k=$NM_V
    # consecutive unmounts go to one umount; anything else waits until they are done
    if [ "$nm_k" = mount ]; then
      nm_get dir "$nm_l"; nm_md=$NM_V; nm_get src "$nm_l"
      if nm_mounted "$nm_md" "$NM_V"; then nm_mnts="$nm_mnts$nm_md$NM_NL"; nm_mseqs="$nm_mseqs $nm_s"
      else
        nm_mounted "$nm_md" && nm_say "left alone: $nm_md is mounted, but not from $NM_V (not this map's mount)"
        nm_end undone "$nm_s"
      fi
      continue
    fi
    if [ "$nm_k" = mkdir ]; then nm_get dir "$nm_l"; nm_dirs="$nm_dirs$nm_s|$NM_V$NM_NL"; continue; fi
    nm_umount_batch
    # a busy mount (or a VG still in use) stops the undo here: nothing under it is taken away
    [ "$nm_stop" = 1 ] && break
    if nm_undo_$nm_k "$nm_l"; then nm_end undone "$nm_s"; else nm_end undo-failed "$nm_s"; nm_fail=1; fi
    [ "$nm_stop" = 1 ] && break
  done <<NM_EOF
$nm_todo
NM_EOF
  nm_umount_batch
  # directories go under the state dir's lock: a map starting now adopts a shared parent or sees it gone
  if [ -n "$nm_dirs" ]; then
    [ -d "$NM_STATE/locks" ] || mkdir -p "$NM_STATE/locks"
    nm_lock "$NM_STATE/locks/alloc"; nm_rmdirs; nm_unlock
  fi
  # a running lvmetad learns that the image's PVs are gone (the host's filters apply)
  if [ -n "$nm_rescan" ]; then nm_lvm_known; nm_lvmetad_rescan $nm_rescan; fi
  [ "$nm_fail" = 0 ] || return 1
  rm -f "$NM_J" "${NM_J%.jsonl}.lvm-in" "${NM_J%.jsonl}.lvm-out"
}
nm_umount_batch() {
  [ -n "$nm_mnts" ] || return 0
  set --; while IFS= read -r nm_x; do [ -n "$nm_x" ] && set -- "$@" "$nm_x"; done <<NM_EOF
$nm_mnts
NM_EOF
  if umount "$@" 2> /dev/null; then
    for nm_x; do nm_say "unmounted $nm_x"; done
    for nm_x in $nm_mseqs; do nm_end undone "$nm_x"; done
  else
    # which one is busy: one at a time, in order
    for nm_x in $nm_mseqs; do
      nm_d=$1; shift
      if ! nm_mounted "$nm_d" || umount "$nm_d"; then nm_say "unmounted $nm_d"; nm_end undone "$nm_x"
      else
        nm_holders "$nm_d"; nm_hm=" (see: fuser -vm $nm_d)"; [ -z "$NM_V" ] || nm_hm=", held by process$NM_V"
        nm_say "cannot unmount $nm_d: busy$nm_hm; its device stays connected (the journal is kept: run unmap again once it is free)"
        nm_end undo-failed "$nm_x"; nm_fail=1; nm_stop=1
      fi
    done
  fi
  nm_mnts=; nm_mseqs=
}

found=0; failed=0
# newest map first (journals are appended to, so their mtime orders them), like every undo
# and maps that renamed a VG inside the image last, once the VGs whose name they take back are gone
set -- "$NM_STATE"/maps/*.jsonl
[ $# -gt 1 ] && set -- $(ls -1t "$@" | while read -r f; do grep -qF '"persist":"1"' "$f" && echo "1 $f" || echo "0 $f"; done | sort -s -k1,1 | cut -d' ' -f2-)
for j; do
  [ -f "$j" ] || continue
  IFS= read -r head < "$j" || head=
  case $sel in
    all) ;;
    id:*) [ "${j##*/}" = "$want.jsonl" ] || continue ;;
    image:*) nm_get image "$head"; [ "$NM_V" = "$want" ] || continue ;;
    dev:*) grep -qF "\"dev\":\"$want\"" "$j" || continue ;;
  esac
  found=$((found + 1))
  nm_get image "$head"; img=$NM_V; nm_get kind "$head"; kind=$NM_V
  if nm_unmap_one "$j"; then nm_say "done: $img ($kind, journal ${j##*/} removed)"; else failed=$((failed + 1)); nm_say "INCOMPLETE: $img: journal $j kept; fix the cause and run unmap again"; fi
done
if [ -n "$nm_left" ]; then
  nm_lock "$NM_STATE/locks/alloc"
  while IFS= read -r d; do [ -n "$d" ] && [ -d "$d" ] && ! grep -qsF "\"$d/" "$NM_STATE"/maps/*.jsonl && rmdir "$d" 2>/dev/null; done <<NM_EOF
$nm_left
NM_EOF
  nm_unlock
fi
if [ "$found" = 0 ] && [ "$strict" = 1 ]; then nm_die "nothing mapped or exported matches ${sel#*:} (journals in $NM_STATE/maps)"; fi
[ "$found" = 0 ] && nm_say "nothing to unmap"
[ "$failed" = 0 ] || nm_die "$failed map(s) could not be fully undone (see above)"
exit 0
