# step "lvm": inventory the device's partitions, find this image's PVs, give VGs whose name clashes
# with the host's or another map's a unique name (byte-identical clones get new UUIDs with
# vgimportclone), activate them (args: STATE ID)
nm_open "$1" "$2"; nm_device
n=$NM_DEVN
# A partition over exactly the bytes of an earlier one (two table entries, an EBR chain that links
# to itself: up to 251 of them) is not probed again (each probe is nbd requests): it is recorded as
# that one (dups: "DEV|FIRST" lines). Start and size from sysfs, read by the shell.
cands=; nm_ext=$NM_NL; dups=
for p in /sys/block/$n/${n}p*; do
  [ -e "$p" ] || continue
  s=; z=; read -r s < "$p/start"; read -r z < "$p/size"
  case $nm_ext in *"$NM_NL$s:$z|"*) f=${nm_ext#*"$NM_NL$s:$z|"}; dups="$dups/dev/${p##*/}|${f%%"$NM_NL"*}$NM_NL"; continue ;; esac
  nm_ext="$nm_ext$s:$z|/dev/${p##*/}$NM_NL"; cands="$cands /dev/${p##*/}"
done
[ -n "$cands" ] || cands=$NM_DEV
# one blkid for every partition; records "blk" feed the mount step
blk=$(blkid -c /dev/null -o export $cands 2>/dev/null)
mine=; found=$NM_NL
d=; t=; lb=; u=
nm_flush() {
  if [ -n "$d" ]; then
    nm_jw info blk dev "$d" type "$t" label "$lb" uuid "$u"
    [ "$t" = LVM2_member ] && mine="$mine$d:$u$NM_NL"
    [ -z "$dups" ] || found="$found$d|$nm_r}$NM_NL" # the record nm_jw wrote (encoded: one line)
  fi
  d=; t=; lb=; u=
}
while IFS= read -r l; do
  case $l in
    DEVNAME=*) nm_flush; d=${l#DEVNAME=} ;;
    TYPE=*) t=${l#TYPE=} ;;
    LABEL=*) nm_unbs "${l#LABEL=}"; lb=$NM_V ;;
    UUID=*) nm_unbs "${l#UUID=}"; u=$NM_V ;;
  esac
done <<NM_EOF
$blk
NM_EOF
nm_flush
# the duplicates: their first's record again, under their own name
if [ -n "$dups" ]; then
  while IFS='|' read -r d f; do
    [ -n "$d" ] || continue
    case $found in *"$NM_NL$f|"*) ;; *) continue ;; esac
    l=${found#*"$NM_NL$f|"}; l=${l%%"$NM_NL"*}
    nm_get type "$l"; t=$NM_V; nm_get label "$l"; lb=$NM_V; nm_get uuid "$l"; u=$NM_V
    nm_jw info blk dev "$d" type "$t" label "$lb" uuid "$u" same "$f"
  done <<NM_EOF
$dups
NM_EOF
fi
[ -n "$mine" ] || exit 0
command -v lvm > /dev/null 2>&1 || nm_die "$IMG has LVM physical volumes but lvm is not installed here (install lvm2, or unmap and map again without needing the LVs)"

nm_devre "$n"; cfg_ours_re=$NM_V
# An LVM session: one lvm process runs the scan and the activation below, reading them as a script
# from a fifo (`lvm FILE` runs each line as a command and stops at the first that fails); after a
# command a `config` line prints a marker, so its output ends at the marker and a failure shows as
# the end of the output; the last command ends the script, and lvm's exit status is its. An lvm start costs about 0.2 s under QEMU TCG, and the scan and the
# activation are otherwise two. Each command keeps its own --config (filters included); lines are at
# most 255 bytes there, so a longer command, or any failure of the session, runs as its own process.
# The fifos live next to the journal and go with it at unmap.
ses=0
if command -v mkfifo > /dev/null 2>&1 && mkfifo -m 600 "${NM_J%.jsonl}.lvm-in" "${NM_J%.jsonl}.lvm-out" 2> /dev/null; then
  # without udev, DM_DISABLE_UDEV=1 stands for the no-udev settings (they would not fit in a line)
  if [ -e /run/udev/control ]; then lvm "${NM_J%.jsonl}.lvm-in" > "${NM_J%.jsonl}.lvm-out" 2>&1 &
  else DM_DISABLE_UDEV=1 lvm "${NM_J%.jsonl}.lvm-in" > "${NM_J%.jsonl}.lvm-out" 2>&1 & fi
  ses_pid=$!
  exec 8< "${NM_J%.jsonl}.lvm-out" 9<> "${NM_J%.jsonl}.lvm-in"
  printf '#!lvm\n' >&9
  ses=1
fi
nm_ses() { # LINE: one command in the session, its output in NM_OUT; status 1 when it failed or there is no session
  NM_OUT=
  [ "$ses" = 1 ] && [ ${#1} -le 255 ] || return 1
  printf '%s\n%s\n' "$1" "config --config 'devices{dir=\"/nbdforge.end\"}' devices/dir" >&9
  while IFS= read -r nm_l <&8; do
    case $nm_l in *'"/nbdforge.end"'*) return 0 ;; esac
    NM_OUT="$NM_OUT$nm_l$NM_NL"
  done
  nm_ses_end; return 1
}
nm_ses_last() { # LINE: the session's last command: its output ends with lvm's exit, its status is lvm's
  NM_OUT=
  [ "$ses" = 1 ] && [ ${#1} -le 255 ] || return 1
  printf '%s\n' "$1" >&9; exec 9>&-
  while IFS= read -r nm_l <&8; do NM_OUT="$NM_OUT$nm_l$NM_NL"; done
  ses=0; exec 8<&-; wait "$ses_pid"
}
nm_ses_end() {
  [ "$ses" = 1 ] || return 0
  ses=0; exec 9>&- 8<&-; wait "$ses_pid"
}
# One scan of every device LVM can see (this image's, the host's, other maps'): lines
# "/dev/X:PV_UUID:VG_NAME:VG_UUID"; anything else it prints is a warning, and a warning that names one
# of our PV UUIDs is LVM hiding a duplicate: the image is a clone of something already present.
# A scan that fails is an error: the clash check cannot be made without it.
pvs_o='--noheadings --separator : -o pv_name,pv_uuid,vg_name,vg_uuid'
# first the config keys this lvm knows (nm_lvm_known): in the session when there is one
nm_ses "config --type default devices global" && nm_lvm_known "$NM_OUT"
nm_lvm_known
nm_lvm_cfg a "$cfg_ours_re"; cfg_ours=$NM_CFG
g=; [ -n "$NM_LVMETAD" ] && g=" global{$NM_LVMETAD}"
if nm_ses "pvs --config 'devices{filter=[\"a|.*|\"] global_filter=[\"a|.*|\"]$NM_LV_DF}$g' $pvs_o"; then
  scan=$NM_OUT
else
  nm_lvm_cfg a '.*'
  scan=$(lvm pvs --config "$NM_CFG" $pvs_o 2>&1) || nm_die "lvm pvs (the scan for VG name clashes and clones) failed: $(nm_last "$scan")"
fi
data=; warn=
while IFS= read -r l; do
  l=${l#"${l%%[! ]*}"}
  case $l in /*:*:*:*) data="$data$l$NM_NL" ;; ?*) warn="$warn$l$NM_NL" ;; esac
done <<NM_EOF
$scan
NM_EOF
ours() { case "$NM_NL$mine" in *"$NM_NL$1:"*) return 0 ;; esac; return 1; }
# VGs of this image: "VG_UUID:NAME:CLONE:DEV DEV..." built from our PVs
vgs=
while IFS=: read -r d u; do
  [ -n "$d" ] || continue
  vg=; vgu=; clone=0
  while IFS=: read -r pn pu gn gu; do
    [ "$pu" = "$u" ] || continue
    vg=$gn; vgu=$gu
    ours "$pn" || clone=1
  done <<NM_EOF
$data
NM_EOF
  case $warn in *"$u"*) clone=1 ;; esac
  [ -n "$vgu" ] || continue # an orphan PV, or one LVM does not show: nothing to activate
  case "$NM_NL$vgs" in
    *"$NM_NL$vgu:"*) [ "$clone" = 1 ] && vgs=$(printf '%s\n' "$vgs" | sed "s/^$vgu:\([^:]*\):0:/$vgu:\1:1:/")$NM_NL
      vgs=$(printf '%s\n' "$vgs" | sed "s#^\($vgu:.*\)\$#\1 $d#")$NM_NL ;;
    *) vgs="$vgs$vgu:$vg:$clone:$d$NM_NL" ;;
  esac
done <<NM_EOF
$mine
NM_EOF
# names and UUIDs elsewhere
nm_elsewhere() { # FIELD(3 name, 4 uuid) VALUE EXCEPT_VG_UUID
  while IFS=: read -r pn pu gn gu; do
    ours "$pn" && continue
    if [ "$1" = 3 ]; then [ "$gn" = "$2" ] && [ "$gu" != "$3" ] && return 0; else [ "$gu" = "$2" ] && return 0; fi
  done <<NM_EOF
$data
NM_EOF
  return 1
}
taken=
nm_name_used() {
  nm_elsewhere 3 "$1" "$2" && return 0
  case " $taken " in *" $1 "*) return 0 ;; esac
  [ -e "/dev/$1" ]
}
nm_unique() { # NAME VG_UUID -> NM_V, a name no VG on the host or in another map has
  nm_u="${1}_$n"; nm_k=1
  while nm_name_used "$nm_u" "$2"; do nm_k=$((nm_k + 1)); nm_u="${1}_${n}_$nm_k"; done
  NM_V=$nm_u
}
# A VG of this image already active before this step (udev's lvm2-pvscan@ and lvmetad auto-activate
# new PVs read-write on CentOS 7 as soon as the device appears): deactivated first, so that the clash
# handling and the read-only activation below apply to it. Only device-mapper devices built on this
# map's device alone: a byte-identical clone's original on the host has the same VG uuid.
nm_auto_off() { # VG_UUID NAME
  nm_nodash "$1"; nm_au=$NM_V; nm_tries=0; nm_did=
  while :; do
    nm_rm=; nm_busy=
    for nm_x in /sys/block/dm-*; do
      nm_id=; read -r nm_id 2>/dev/null < "$nm_x/dm/uuid"
      case $nm_id in "LVM-$nm_au"*) ;; *) continue ;; esac
      for nm_s in "$nm_x"/slaves/*; do case ${nm_s##*/} in "$n" | "${n}p"* | dm-*) ;; *) continue 2 ;; esac; done
      read -r nm_dn < "$nm_x/dm/name"
      nm_h=; for nm_y in "$nm_x"/holders/*; do [ -e "$nm_y" ] && nm_h=1 && break; done
      if [ -n "$nm_h" ]; then nm_busy="$nm_busy $nm_dn"; else nm_rm="$nm_rm $nm_dn"; fi
    done
    [ -n "$nm_rm$nm_busy" ] || break
    nm_tries=$((nm_tries + 1))
    [ -n "$nm_rm" ] && [ $nm_tries -le 10 ] || nm_die "VG $2 of $IMG was already active before this map (auto-activated by udev/lvmetad?) and is in use:$nm_rm$nm_busy; unmount it, then: dmsetup remove$nm_rm$nm_busy, and map again"
    if [ -e /run/udev/control ]; then dmsetup remove $nm_rm > /dev/null 2>&1; else DM_DISABLE_UDEV=1 dmsetup remove $nm_rm > /dev/null 2>&1; fi
    nm_did=1
  done
  [ -n "$nm_did" ] || return 0
  case $2 in '' | . | .. | */*) ;; *) [ -e /run/udev/control ] || [ ! -d "/dev/$2" ] || rm -rf "/dev/$2" ;; esac
  nm_jw info deactivated vg "$2" vguuid "$1" why "already active before the map"
  nm_warn "VG $2 of $IMG was already active (auto-activated?): deactivated it, to activate it as this map says"
}
while IFS=: read -r vguuid name clone pvdevs; do
  [ -n "$vguuid" ] && nm_auto_off "$vguuid" "$name"
done <<NM_EOF
$vgs
NM_EOF
active=; acts=; ro=; mm=
while IFS=: read -r vguuid name clone pvdevs; do
  [ -n "$vguuid" ] || continue
  nm_elsewhere 4 "$vguuid" && clone=1
  cur=$name; curuuid=$vguuid
  if [ "$clone" = 1 ]; then
    [ "$MODE" = rw ] && nm_die "VG $name in $IMG is a byte-identical clone (same PV and VG UUIDs) of one the host or another map already has; a --rw map would have to write new UUIDs into the image: map it read-only or with --snapshot"
    [ "$VIA" = loop ] && [ "$MODE" = ro ] && nm_die "VG $name in $IMG is a clone of a VG already present; a read-only loop device cannot take new UUIDs: map it without --loop (qemu-nbd keeps the image unchanged)"
    nm_unique "$name" "$vguuid"; cur=$NM_V
    nm_ses_end # LVM changes the metadata from here: every later command starts afresh
    nm_begin importclone dev "$NM_DEV" from "$name" to "$cur" vguuid "$vguuid" persist 0
    out=$(lvm vgimportclone --config "$cfg_ours" --basevgname "$cur" $pvdevs 2>&1) || nm_die "vgimportclone of VG $name failed: $(nm_last "$out")"
    nm_done
    curuuid=$(lvm vgs --config "$cfg_ours" --noheadings -o vg_uuid "$cur" 2>/dev/null)
    curuuid=${curuuid#"${curuuid%%[! ]*}"}
    [ -n "$curuuid" ] || nm_die "VG $cur not found after vgimportclone"
  elif nm_name_used "$name" "$vguuid"; then
    [ "$VIA" = loop ] && [ "$MODE" = ro ] && nm_die "VG name $name is already used on this host; a read-only loop device cannot rename it: map it without --loop (qemu-nbd keeps the image unchanged)"
    nm_unique "$name" "$vguuid"; cur=$NM_V
    persist=0; [ "$MODE" = rw ] && persist=1
    nm_ses_end
    nm_begin rename dev "$NM_DEV" image "$IMG" format "${NM_FMT:-raw}" vguuid "$vguuid" from "$name" to "$cur" persist "$persist"
    # a --rw rename edits the image: make its record durable before the change
    [ "$persist" = 1 ] && sync
    out=$(lvm vgrename --config "$cfg_ours" "$vguuid" "$cur" 2>&1) || nm_die "vgrename $name -> $cur failed: $(nm_last "$out")"
    nm_done
  fi
  taken="$taken $cur"
  # where lvmetad runs, the PVs' major:minor, to rescan them into it now and at unmap
  pvmm=
  if [ -n "$NM_LVMETAD" ]; then for d in $pvdevs; do read -r x 2>/dev/null < "/sys/class/block/${d#/dev/}/dev" && pvmm="$pvmm${pvmm:+ }$x"; done; fi
  mm="$mm $pvmm"
  nm_begin activate dev "$NM_DEV" vg "$cur" vguuid "$curuuid" orig "$name" pvmm "$pvmm"
  acts="$acts $NM_ACT"; active="$active $cur"
  ro="$ro${ro:+, }\"$cur\""
done <<NM_EOF
$vgs
NM_EOF
[ -n "$active" ] || { nm_ses_end; exit 0; }
extra=
[ "$MODE" = ro ] && extra="read_only_volume_list=[ $ro ]"
# --poll n: no background polling (an interrupted pvmove in the image) is started on a mapped image
f="\"a|^/dev/$n(p|\$)|\",\"r|.*|\""
if nm_ses_last "vgchange -ay --poll n --config 'devices{filter=[$f] global_filter=[$f]$NM_LV_DF} backup{backup=0 archive=0} activation{monitoring=0 $extra}$g'$active"; then
  nm_ses_end
else
  nm_ses_end
  nm_lvm_cfg a "$cfg_ours_re" "$extra"
  out=$(lvm vgchange -ay --poll n --config "$NM_CFG" $active 2>&1) || nm_die "vgchange -ay$active failed: $(nm_last "$out")"
fi
for a in $acts; do nm_done "$a"; done
nm_lvmetad_rescan $mm
