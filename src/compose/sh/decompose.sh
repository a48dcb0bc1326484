# step "decompose": undo, newest first, every action the matching composites' journals began and did
# not undo: remove the partition device and the composite (only while their dm uuid is this
# journal's), detach the loop devices backed by the head and tail files, delete the files. Each undo
# checks first, so it is exact after a kill -9 at any point and after a reboot. A journal whose
# actions are all undone is removed; one with a failed undo (a device in use) stays.
# (args: STATE SELECTOR STRICT) SELECTOR: all | name:NAME
NM_STATE=$1; sel=$2; strict=$3
umask 077
nm_safe_dir "$NM_STATE" "state dir"
[ -d "$NM_STATE" ] || mkdir -p "$NM_STATE"
summary=$NM_STATE/last-decompose.txt
: > "$summary"
cm_say() { printf '%s\n' "$*" >> "$summary"; printf '%s\n' "$*"; }
# Undos of one kind that follow each other run as one command (dmsetup remove A B, losetup -d X Y,
# rm -f F G): a process start costs 30-50 ms under QEMU TCG. A batch that fails is retried one by
# one, in order, to say which undo failed; the first failure stops the journal's undo.
cm_add() { cm_items="$cm_items$1$NM_NL"; }
cm_flush() {
  [ -n "$cm_kind" ] || return 0
  cm_k=$cm_kind; cm_kind=
  set -f; cm_ifs=$IFS; IFS=$NM_NL; set -- $cm_items; IFS=$cm_ifs; set +f
  if [ $# -gt 0 ] && ! cm_do_$cm_k "$@" > /dev/null 2>&1; then
    for cm_it; do
      cm_gone_$cm_k "$cm_it" && continue # the batch took this one before it stopped
      cm_o=$(cm_do_$cm_k "$cm_it" 2>&1) && continue
      cm_f=$cm_it; for cm_it; do cm_gone_$cm_k "$cm_it" && cm_said_$cm_k "$cm_it"; done
      cm_say "$(cm_fail_$cm_k "$cm_f"): $(nm_last "$cm_o")"
      # the batch's records stay open: the next decompose checks each of them again
      for cm_it in $cm_seqs; do nm_end undo-failed "$cm_it"; done
      cm_items=; cm_seqs=; return 1
    done
  fi
  for cm_it; do cm_said_$cm_k "$cm_it"; done
  for cm_it in $cm_seqs; do nm_end undone "$cm_it"; done
  cm_items=; cm_seqs=
  return 0
}
cm_do_dm() { cm_dmsetup remove "$@"; }
cm_fail_dm() { echo "cannot remove /dev/mapper/$1 (in use: mounted, exported, or held by another device? see: dmsetup info $1)"; }
cm_said_dm() { cm_say "removed /dev/mapper/$1"; }
cm_gone_dm() { ! cm_dm_uuid "$1"; }
cm_do_loop() { losetup -d "$@"; }
cm_fail_loop() { echo "cannot detach $1"; }
cm_said_loop() { cm_say "detached $1"; }
cm_gone_loop() { [ ! -e "/sys/block/${1#/dev/}/loop/backing_file" ]; }
cm_do_file() { rm -f -- "$@"; }
cm_fail_file() { echo "cannot delete $1"; }
cm_said_file() { :; }
cm_gone_file() { [ ! -e "$1" ]; }
# cm_take KIND SEQ [ITEM]: add an undo to the batch (flushing a batch of another kind first)
cm_take() {
  if [ "$cm_kind" != "$1" ]; then cm_flush || return 1; cm_kind=$1; fi
  cm_seqs="$cm_seqs $2"; [ $# -lt 3 ] || cm_add "$3"
}
cm_undo() { # RECORD SEQ
  nm_get kind "$1"
  case $NM_V in
    dm)
      nm_get name "$1"; cm_n=$NM_V; nm_get uuid "$1"
      # gone, or the name now belongs to another device: nothing of ours to remove
      if cm_dm_uuid "$cm_n" && [ "$CM_U" = "$NM_V" ]; then cm_take dm "$2" "$cm_n"; else cm_take dm "$2"; fi ;;
    loop)
      nm_get file "$1"; cm_loops "$NM_V"; cm_take loop "$2" || return 1
      for cm_y in $CM_LOOPS; do cm_add "$cm_y"; done ;;
    file) nm_get path "$1"; cm_take file "$2" "$NM_V" ;;
    *) cm_flush || return 1; cm_say "unknown action $NM_V in $NM_J"; return 1 ;;
  esac
}
cm_decompose_one() {
  NM_J=$1; NM_SEQ=0; cm_undone=' '; cm_todo=; cm_kind=; cm_items=; cm_seqs=
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
    cm_undo "$nm_l" "$cm_s" || { cm_fail=1; break; }
  done << CM_EOF
$cm_todo
CM_EOF
  [ "$cm_fail" = 1 ] || cm_flush || cm_fail=1
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
