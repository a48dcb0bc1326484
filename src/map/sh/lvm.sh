# step "lvm": inventory the device's partitions, find this image's PVs, give VGs whose name clashes
# with the host's or another map's a unique name (byte-identical clones get new UUIDs with
# vgimportclone), activate them (args: STATE ID)
nm_open "$1" "$2"; nm_device
n=$NM_DEVN
cands=
for p in /sys/block/$n/${n}p*; do [ -e "$p" ] && cands="$cands /dev/${p##*/}"; done
[ -n "$cands" ] || cands=$NM_DEV
# one blkid for every partition; records "blk" feed the mount step
blk=$(blkid -c /dev/null -o export $cands 2>/dev/null)
mine=
d=; t=; lb=; u=
nm_flush() {
  if [ -n "$d" ]; then
    nm_clean "$lb"; nm_jw info blk dev "$d" type "$t" label "$NM_V" uuid "$u"
    [ "$t" = LVM2_member ] && mine="$mine$d:$u$NM_NL"
  fi
  d=; t=; lb=; u=
}
while IFS= read -r l; do
  case $l in
    DEVNAME=*) nm_flush; d=${l#DEVNAME=} ;;
    TYPE=*) t=${l#TYPE=} ;;
    LABEL=*) lb=${l#LABEL=} ;;
    UUID=*) u=${l#UUID=} ;;
  esac
done <<NM_EOF
$blk
NM_EOF
nm_flush
[ -n "$mine" ] || exit 0
command -v lvm > /dev/null 2>&1 || nm_die "$IMG has LVM physical volumes but lvm is not installed here (install lvm2, or unmap and map again without needing the LVs)"

nm_devre "$n"; cfg_ours_re=$NM_V
nm_lvm_cfg a "$cfg_ours_re"; cfg_ours=$NM_CFG
# One scan of every device LVM can see (this image's, the host's, other maps'): lines
# "/dev/X:PV_UUID:VG_NAME:VG_UUID"; anything else it prints is a warning, and a warning that names one
# of our PV UUIDs is LVM hiding a duplicate: the image is a clone of something already present.
nm_lvm_cfg a '.*'
scan=$(lvm pvs --config "$NM_CFG" --noheadings --separator : -o pv_name,pv_uuid,vg_name,vg_uuid 2>&1)
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
active=; acts=; ro=
while IFS=: read -r vguuid name clone pvdevs; do
  [ -n "$vguuid" ] || continue
  nm_elsewhere 4 "$vguuid" && clone=1
  cur=$name; curuuid=$vguuid
  if [ "$clone" = 1 ]; then
    [ "$MODE" = rw ] && nm_die "VG $name in $IMG is a byte-identical clone (same PV and VG UUIDs) of one the host or another map already has; a --rw map would have to write new UUIDs into the image: map it read-only or with --snapshot"
    [ "$VIA" = loop ] && [ "$MODE" = ro ] && nm_die "VG $name in $IMG is a clone of a VG already present; a read-only loop device cannot take new UUIDs: map it without --loop (qemu-nbd keeps the image unchanged)"
    nm_unique "$name" "$vguuid"; cur=$NM_V
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
    nm_begin rename dev "$NM_DEV" image "$IMG" format "${NM_FMT:-raw}" vguuid "$vguuid" from "$name" to "$cur" persist "$persist"
    # a --rw rename edits the image: make its record durable before the change
    [ "$persist" = 1 ] && sync
    out=$(lvm vgrename --config "$cfg_ours" "$vguuid" "$cur" 2>&1) || nm_die "vgrename $name -> $cur failed: $(nm_last "$out")"
    nm_done
  fi
  taken="$taken $cur"
  nm_begin activate dev "$NM_DEV" vg "$cur" vguuid "$curuuid" orig "$name"
  acts="$acts $NM_ACT"; active="$active $cur"
  ro="$ro${ro:+, }\"$cur\""
done <<NM_EOF
$vgs
NM_EOF
[ -n "$active" ] || exit 0
extra=
[ "$MODE" = ro ] && extra="read_only_volume_list=[ $ro ]"
nm_lvm_cfg a "$cfg_ours_re" "$extra"
out=$(lvm vgchange -ay --config "$NM_CFG" $active 2>&1) || nm_die "vgchange -ay$active failed: $(nm_last "$out")"
for a in $acts; do nm_done "$a"; done
