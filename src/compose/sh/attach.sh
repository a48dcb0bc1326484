# step "loops": the head (and tail) files as read-only loop devices. The begin record names the file
# before losetup runs, so an undo after a kill finds the device by its backing file. The map's
# allocation lock is held: map picks a loop device with losetup -f and attaches it afterwards.
# (args: STATE NAME)
cm_open "$1" "$2"
[ -d "$NM_STATE/locks" ] || mkdir -p "$NM_STATE/locks"
nm_lock "$NM_STATE/locks/alloc"
for cm_w in head tail; do
  cm_f=$CM_D/$2.$cm_w
  [ -f "$cm_f" ] || continue
  nm_begin loop file "$cm_f" which "$cm_w"
  cm_d=$(losetup --find --show --read-only "$cm_f" 2>&1) || nm_die "losetup --find --show --read-only $cm_f: $cm_d"
  nm_jw info loopdev which "$cm_w" dev "$cm_d"
  nm_done
done
nm_unlock
