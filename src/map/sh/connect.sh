# step "connect": detect the format, attach the image to a free /dev/nbdN (or loop device), wait
# until it is live and its partitions are read (args: STATE ID SHARED_RO [ALLOWED_EXTERNAL]...)
nm_open "$1" "$2"; nm_sro=$3; shift 3
[ -e "$IMG" ] || nm_die "no such image: $IMG"
# the format and the references again, right before qemu opens them (the plan's precondition
# checked them first): every layer's format is pinned, nothing is probed
NM_ALLOW=; for nm_a; do NM_ALLOW=$NM_ALLOW$nm_a$NM_NL$(readlink -f -- "$nm_a" 2>/dev/null)$NM_NL; done
nm_given=$FMT
nm_inspect "$IMG" "$FMT" || nm_die "refused: $NM_WHY"
nm_jw info format format "$FMT" chain "$NM_CHAIN"
if [ -z "$nm_given" ] && [ "$FMT" = raw ] && [ -f "$IMG" ] && ! blkid -p -o export "$IMG" > /dev/null 2>&1; then
  nm_die "$IMG is not a disk image: it reads as raw, and it has no partition table, filesystem or LVM signature"
fi
# a block device the host uses: read-only maps see it change under them (--rw was refused before)
nm_bdev_busy "$IMG" && nm_warn "$NM_WHY: this read-only view may be inconsistent"
[ -d "$NM_STATE/locks" ] || mkdir -p "$NM_STATE/locks"
nm_lock "$NM_STATE/locks/alloc"
# one writer per image again, now that maps started together are serialised by the lock
nm_m=ro; [ "$MODE" = rw ] && nm_m=rw
nm_writers "$NM_STATE" "$IMG" "$nm_m" "$nm_sro" "$NM_J" && nm_die "refused: $NM_WHY"
# a device is free when nothing is connected to it and no live journal names it (a map killed before
# its device came up still owns it until unmap)
# (this map's own journal names no device yet: grep only when there are others)
nm_others=0
for nm_j in "$NM_STATE"/maps/*.jsonl; do [ "$nm_j" = "$NM_J" ] || nm_others=1; done
nm_taken() { [ "$nm_others" = 1 ] && grep -qsF "\"dev\":\"$1\"" "$NM_STATE"/maps/*.jsonl; }
if [ "$VIA" = loop ]; then
  [ "$FMT" = raw ] || nm_die "--loop maps raw images and block devices; $IMG is $FMT (map it without --loop, through qemu-nbd)"
  dev=$(losetup -f 2>&1) || nm_die "no free loop device: $dev"
  nm_begin loop dev "$dev" image "$IMG" offset "${OFFSET:-0}"
  set -- --partscan
  [ "$MODE" = ro ] && set -- "$@" --read-only
  [ -n "$OFFSET" ] && set -- "$@" --offset "$OFFSET"
  out=$(losetup "$@" "$dev" "$IMG" 2>&1) || nm_die "losetup $dev $IMG failed: $out"
  nm_unlock
  nm_done
  exit 0
fi
[ -b /dev/nbd0 ] || nm_die "no /dev/nbd0: the nbd module is not loaded; run nbdforge prepare-host"
dev=; nm_n=0
for nm_d in /dev/nbd*; do
  case ${nm_d#/dev/nbd} in '' | *[!0-9]*) continue ;; esac
  nm_n=$((nm_n + 1))
  [ -e "/sys/block/${nm_d#/dev/}/pid" ] && continue
  nm_taken "$nm_d" && continue
  dev=$nm_d; break
done
[ -n "$dev" ] || nm_die "no free nbd device: all $nm_n /dev/nbd* devices are connected or held by a map; unmap one (nbdforge unmap --all) or reload nbd with more devices (nbdforge prepare-host --options 'nbds_max=32 max_part=15')"
n=${dev#/dev/}
nm_refuse_held "$IMG" "nothing was connected"
nm_begin connect dev "$dev" image "$IMG" format "$FMT" mode "$MODE"
# read-only maps and --snapshot maps write only to qemu's temporary overlay: the image stays
# bit-for-bit unchanged while LVM may still rename a clashing VG on the device
set -- --connect="$dev" --format="$FMT"
[ "$MODE" = rw ] || set -- "$@" --snapshot
# relative names in the image (backing, data file) mean the same to qemu and to the check above
out=$(cd -- "${IMG%/*}/" && qemu-nbd "$@" "$IMG" 2>&1) || {
  case $out in
    *'temporary file'*) nm_die "qemu-nbd could not create the snapshot overlay (it needs a writable /var/tmp): $(nm_last "$out")" ;;
    *) nm_is_lock_error "$out" && nm_die "$IMG is locked by another process (a running VM or another qemu-nbd?); nothing was connected: $(nm_last "$out")"
      nm_die "qemu-nbd could not connect $IMG to $dev: $(nm_last "$out")" ;;
  esac
}
# qemu-nbd --connect can return before the device is live: wait for its pid and size
nm_i=0
while :; do
  nm_sz=0; [ -e "/sys/block/$n/pid" ] && read -r nm_sz < "/sys/block/$n/size"
  [ "$nm_sz" != 0 ] && break
  nm_i=$((nm_i + 1)); [ $nm_i -gt 150 ] && nm_die "$dev did not come up within 15 s"
  sleep 0.1
done
nm_unlock
# the kernel's own partition scan races NBD_DO_IT: rescan now that the device is live
nm_i=0
until out=$(blockdev --rereadpt "$dev" 2>&1); do
  nm_i=$((nm_i + 1)); [ $nm_i -gt 20 ] && nm_die "blockdev --rereadpt $dev: $out"
  sleep 0.1
done
nm_done
