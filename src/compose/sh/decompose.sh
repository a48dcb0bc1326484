# step "decompose": undo, newest first, every action the matching composites' journals began and did
# not undo: remove the partition device and the composite (only while their dm uuid is this
# journal's), detach the loop devices backed by the head and tail files, delete the files. Each undo
# checks first, so it is exact after a kill -9 at any point and after a reboot. A journal whose
# actions are all undone is removed; one with a failed undo (a device in use) stays.
# (args: STATE SELECTOR STRICT) SELECTOR: all | name:NAME
NM_STATE=$1; sel=$2; strict=$3
[ -d "$NM_STATE" ] || mkdir -p "$NM_STATE"
summary=$NM_STATE/last-decompose.txt
: > "$summary"
cm_say() { printf '%s\n' "$*" >> "$summary"; printf '%s\n' "$*"; }
cm_undo_dm() {
  nm_get name "$1"; cm_n=$NM_V; nm_get uuid "$1"
  cm_dm_uuid "$cm_n" || return 0
  [ "$CM_U" = "$NM_V" ] || return 0 # the name now belongs to another device: not ours
  cm_o=$(cm_dmsetup remove "$cm_n" 2>&1) || { cm_say "cannot remove /dev/mapper/$cm_n: $(nm_last "$cm_o") (in use: mounted, exported, or held by another device? see: dmsetup info $cm_n)"; return 1; }
  cm_say "removed /dev/mapper/$cm_n"
}
cm_undo_loop() {
  nm_get file "$1"; cm_loops "$NM_V"
  for cm_y in $CM_LOOPS; do
    losetup -d "$cm_y" || { cm_say "cannot detach $cm_y"; return 1; }
    cm_say "detached $cm_y"
  done
  return 0
}
cm_undo_file() { nm_get path "$1"; rm -f "$NM_V"; }
cm_decompose_one() {
  NM_J=$1; NM_SEQ=0; cm_undone=' '; cm_todo=
  while IFS= read -r nm_l; do
    NM_SEQ=$((NM_SEQ + 1))
    case $nm_l in
      *'"ev":"undone"'*) nm_get of "$nm_l"; cm_undone="$cm_undone$NM_V " ;;
      *'"ev":"begin"'*) cm_todo="$nm_l$NM_NL$cm_todo" ;;
    esac
  done < "$NM_J"
  cm_fail=0
  while IFS= read -r nm_l; do
    [ -n "$nm_l" ] || continue
    nm_get seq "$nm_l"; cm_s=$NM_V
    case $cm_undone in *" $cm_s "*) continue ;; esac
    nm_get kind "$nm_l"
    if cm_undo_$NM_V "$nm_l"; then nm_end undone "$cm_s"; else nm_end undo-failed "$cm_s"; cm_fail=1; break; fi
  done << CM_EOF
$cm_todo
CM_EOF
  [ "$cm_fail" = 0 ] || return 1
  rm -f "$NM_J" "${NM_J%.jsonl}.table"
}
found=0; failed=0
set -- "$NM_STATE"/composes/*.jsonl
[ $# -gt 1 ] && set -- $(ls -1t "$@")
for j; do
  [ -f "$j" ] || continue
  cm_nm=${j##*/}; cm_nm=${cm_nm%.jsonl}
  case $sel in all) ;; name:*) [ "$cm_nm" = "${sel#name:}" ] || continue ;; esac
  found=$((found + 1))
  if cm_decompose_one "$j"; then cm_say "done: $cm_nm (journal ${j##*/} removed)"; else failed=$((failed + 1)); cm_say "INCOMPLETE: $cm_nm: journal $j kept; fix the cause and run decompose again"; fi
done
if [ "$found" = 0 ] && [ "$strict" = 1 ]; then nm_die "no composite named ${sel#name:} (journals in $NM_STATE/composes)"; fi
[ "$found" = 0 ] && cm_say "nothing to decompose"
[ "$failed" = 0 ] || nm_die "$failed composite(s) could not be fully taken apart (see above)"
exit 0
