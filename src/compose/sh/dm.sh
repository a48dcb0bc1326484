# step "dm": the composite (head loop, volume, tail loop: linear targets in 512-byte sectors) and its
# partition device (linear over the composite, as kpartx would make it), named NAME and NAMEp1.
# (args: STATE NAME DM_UUID PART_DM_UUID TAIL_START)
cm_open "$1" "$2"
nm_get head "$CM_HEAD"; cm_h=$NM_V; nm_get sectors "$CM_HEAD"; cm_v=$NM_V; nm_get tail "$CM_HEAD"; cm_t=$NM_V
nm_get ro "$CM_HEAD"; cm_ro=; [ "$NM_V" = 1 ] && cm_ro=--readonly
nm_get part "$CM_HEAD"; cm_p=$NM_V
cm_hd=; cm_td=
cm_rec() { case $1 in *'"kind":"loopdev"'*) nm_get which "$1"; cm_wh=$NM_V; nm_get dev "$1"; [ "$cm_wh" = head ] && cm_hd=$NM_V; [ "$cm_wh" = tail ] && cm_td=$NM_V ;; esac; return 0; }
nm_each cm_rec
[ -n "$cm_hd" ] || nm_die "journal $NM_J names no head loop device"
[ "$cm_t" = 0 ] || [ -n "$cm_td" ] || nm_die "journal $NM_J names no tail loop device"
cm_tbl=$CM_D/$2.table
{
  printf '0 %s linear %s 0\n' "$cm_h" "$cm_hd"
  printf '%s %s linear %s 0\n' "$cm_h" "$cm_v" "$CM_VOL"
  [ "$cm_t" = 0 ] || printf '%s %s linear %s 0\n' "$5" "$cm_t" "$cm_td"
} > "$cm_tbl" || nm_die "cannot write $cm_tbl"
nm_begin dm name "$2" uuid "$3"
cm_o=$(cm_dmsetup create "$2" --uuid "$3" $cm_ro "$cm_tbl" 2>&1) || nm_die "dmsetup create $2 failed: $(nm_last "$cm_o")"
nm_done
nm_begin dm name "$cm_p" uuid "$4"
cm_o=$(cm_dmsetup create "$cm_p" --uuid "$4" $cm_ro --table "0 $cm_v linear /dev/mapper/$2 $cm_h" 2>&1) || nm_die "dmsetup create $cm_p failed: $(nm_last "$cm_o")"
nm_done
[ -b "/dev/mapper/$2" ] && [ -b "/dev/mapper/$cm_p" ] || nm_die "/dev/mapper/$2 or /dev/mapper/$cm_p did not appear"
nm_jw info composed dev "/dev/mapper/$2" partdev "/dev/mapper/$cm_p"
