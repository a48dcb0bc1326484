# nbdforge plan driver (prepended to every emitted script; see emit-script.ts). POSIX sh only.
PATH=$PATH:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
LC_ALL=C; export LC_ALL
NF_DONE=''; NF_CHANGED=0; NF_HELD=0
nf_rec() { printf '@nbdforge %s\n' "$*"; }
nf_say() { printf '[nbdforge] %s\n' "$*" >&2; }
nf_lines() { printf '%s\n' "$2" | tail -n "$1"; }
nf_detail() { nf_lines 5 "$2" | while IFS= read -r nf_l; do [ -n "$nf_l" ] && nf_rec detail "$1" "$nf_l"; done; }
# a step that succeeded but warned: its "warning: ..." lines reach people and the records
nf_warned() { printf '%s\n' "$2" | while IFS= read -r nf_l; do case $nf_l in 'warning: '*) nf_rec detail "$1" "$nf_l"; nf_say "$1: $nf_l" ;; esac; done; }
nf_message() { printf '%s\n' "$1" | while IFS= read -r nf_l; do nf_rec message "$nf_l"; done; nf_say "$1"; }
nf_unlock() { if [ "$NF_HELD" = 1 ]; then lk_drop "$NF_LOCK"; NF_HELD=0; fi; }
# The host lock (lk_take, util/file-lock.sh): a stale one is taken over, a live holder refuses at once.
nf_lock() {
  lk_take "$NF_LOCK" 0; nf_rc=$?
  if [ "$nf_rc" = 0 ]; then NF_HELD=1; return 0; fi
  if [ "$nf_rc" = 1 ]; then nf_message "another run holds the lock $NF_LOCK (pid ${LK_PID:-unknown})"
  else nf_message "cannot create the lock $NF_LOCK"; fi
  nf_rec outcome refused; exit 3
}
nf_pre() {
  nf_out=$(nf_pre_$1 2>&1 </dev/null) && return 0
  nf_out=$(nf_lines 3 "$nf_out")
  nf_rec pre "$2" "$3"
  nf_message "$4${nf_out:+: $nf_out}"
  if [ "$3" = nothing-to-do ]; then nf_rec outcome nothing-to-do; exit 0; fi
  nf_rec outcome refused; exit 3
}
nf_rollback() {
  for nf_e in $NF_DONE; do
    nf_n=${nf_e%%:*}; nf_r=${nf_e#*:}; nf_id=${nf_r%%:*}
    [ "${nf_r##*:}" = 1 ] || continue
    if nf_out=$(nf_undo_$nf_n 2>&1 </dev/null); then nf_rec step "$nf_id" undone; nf_say "$nf_id: undone"
    else nf_rec step "$nf_id" undo-failed; nf_detail "$nf_id" "$nf_out"; nf_say "$nf_id: UNDO FAILED: $nf_out"; fi
  done
  NF_DONE=''
}
nf_interrupted() { nf_say 'interrupted: undoing completed steps'; nf_rollback; nf_rec outcome failed; exit 130; }
nf_step() {
  if [ "$3" = 1 ] && nf_probe_$1 >/dev/null 2>&1 </dev/null; then nf_rec step "$2" already; nf_say "$2: already done"; return 0; fi
  nf_say "$2: $6"
  nf_out=$(nf_run_$1 2>&1 </dev/null); nf_rc=$?
  if [ "$nf_rc" = 0 ]; then
    if [ "$5" = 1 ]; then nf_rec step "$2" checked; else nf_rec step "$2" done; NF_CHANGED=1; fi
    case $nf_out in *'warning: '*) nf_warned "$2" "$nf_out" ;; esac
    NF_DONE="$1:$2:$4 $NF_DONE"; return 0
  fi
  nf_rec step "$2" failed "$nf_rc"; nf_detail "$2" "$nf_out"
  nf_say "$2: FAILED (exit $nf_rc): $(nf_lines 5 "$nf_out")"
  nf_rollback
  nf_rec outcome failed; exit 1
}
nf_finish() {
  if [ "$NF_CHANGED" = 1 ]; then nf_rec outcome changed; nf_say 'done: host changed'
  else nf_rec outcome unchanged; nf_say 'nothing changed: every step was already done'; fi
  exit 0
}
