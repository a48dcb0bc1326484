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
haslvm=0; d=; t=; lb=; u=
nm_flush() {
  if [ -n "$d" ]; then
    nm_clean "$lb"; nm_jw info blk dev "$d" type "$t" label "$NM_V" uuid "$u"
    [ "$t" = LVM2_member ] && haslvm=1
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
[ "$haslvm" = 1 ] || exit 0

nm_devre "$n"; re=$NM_V
nm_lvm_cfg a "$re"; cfg_ours=$NM_CFG
nm_lvm_cfg r "$re"; cfg_others=$NM_CFG
ours=$(lvm pvs --config "$cfg_ours" --noheadings --separator : -o pv_name,pv_uuid,vg_name,vg_uuid 2>&1) || nm_die "lvm pvs on $NM_DEV failed: $(nm_last "$ours")"
# everything else LVM can see: the host's VGs and those of other mapped images
others=$(lvm pvs --config "$cfg_others" --noheadings --separator : -o pv_uuid,vg_name,vg_uuid 2>/dev/null)
others=$(printf '%s\n' "$others" | sed 's/^ *//')
taken=
nm_name_used() {
  case "$NM_NL$others$NM_NL" in *":$1:"*) return 0 ;; esac
  case " $taken " in *" $1 "*) return 0 ;; esac
  [ -e "/dev/$1" ] || [ -e "/dev/mapper/$1" ]
}
nm_unique() { # ORIGINAL NAME -> NM_V, a name no VG on the host or in another map has
  nm_u="${1}_$n"; nm_k=1
  while nm_name_used "$nm_u"; do nm_k=$((nm_k + 1)); nm_u="${1}_${n}_$nm_k"; done
  NM_V=$nm_u
}
vgs_done=
active=
acts=
ro=
# every VG of this image, once (orphan PVs have no VG name)
for line in $(printf '%s\n' "$ours" | sed 's/^ *//' | awk -F: '$3 != "" { print $4 ":" $3 }' | sort -u); do
  vguuid=${line%%:*}; name=${line#*:}
  pvnames=; clone=0
  for pl in $(printf '%s\n' "$ours" | sed 's/^ *//' | awk -F: -v u="$vguuid" '$4 == u { print $1 ":" $2 }'); do
    pvnames="$pvnames ${pl%%:*}"
    case "$NM_NL$others" in *"$NM_NL${pl#*:}:"*) clone=1 ;; esac
  done
  case "$others$NM_NL" in *":$vguuid$NM_NL"*) clone=1 ;; esac
  cur=$name; curuuid=$vguuid
  if [ "$clone" = 1 ]; then
    [ "$MODE" = rw ] && nm_die "VG $name in $IMG is a byte-identical clone (same PV and VG UUIDs) of one the host or another map already has; a --rw map would have to write new UUIDs into the image: map it read-only or with --snapshot"
    [ "$VIA" = loop ] && [ "$MODE" = ro ] && nm_die "VG $name in $IMG is a clone of a VG already present; a read-only loop device cannot take new UUIDs: map it without --loop (qemu-nbd keeps the image unchanged)"
    nm_unique "$name"; cur=$NM_V
    nm_begin importclone dev "$NM_DEV" from "$name" to "$cur" vguuid "$vguuid" persist 0
    out=$(lvm vgimportclone --config "$cfg_ours" --basevgname "$cur" $pvnames 2>&1) || nm_die "vgimportclone of VG $name failed: $(nm_last "$out")"
    nm_done
    curuuid=$(lvm vgs --config "$cfg_ours" --noheadings -o vg_uuid "$cur" 2>/dev/null | tr -d ' ')
    [ -n "$curuuid" ] || nm_die "VG $cur not found after vgimportclone"
  elif nm_name_used "$name"; then
    [ "$VIA" = loop ] && [ "$MODE" = ro ] && nm_die "VG name $name is already used on this host; a read-only loop device cannot rename it: map it without --loop (qemu-nbd keeps the image unchanged)"
    nm_unique "$name"; cur=$NM_V
    persist=0; [ "$MODE" = rw ] && persist=1
    nm_begin rename dev "$NM_DEV" image "$IMG" vguuid "$vguuid" from "$name" to "$cur" persist "$persist"
    # a --rw rename edits the image: make its record durable before the change
    [ "$persist" = 1 ] && sync
    out=$(lvm vgrename --config "$cfg_ours" "$vguuid" "$cur" 2>&1) || nm_die "vgrename $name -> $cur failed: $(nm_last "$out")"
    nm_done
  fi
  taken="$taken $cur"
  nm_begin activate dev "$NM_DEV" vg "$cur" vguuid "$curuuid" orig "$name"
  acts="$acts $NM_ACT"; active="$active $cur"
  ro="$ro${ro:+, }\"$cur\""
done
[ -n "$active" ] || exit 0
extra=
[ "$MODE" = ro ] && extra="read_only_volume_list=[ $ro ]"
nm_lvm_cfg a "$re" "$extra"
out=$(lvm vgchange -ay --config "$NM_CFG" $active 2>&1) || nm_die "vgchange -ay$active failed: $(nm_last "$out")"
for a in $acts; do nm_done "$a"; done
