# nbdforge's one lock policy in POSIX sh (the same as src/util/file-lock.ts; both pass
# test/unit/host-lock.test.ts). Read into every emitted script with a lock (host/emit-script.ts) and
# into the map library (map/steps.ts), which keeps only the functions a step calls.
# A lock is a file created exclusively (set -C: O_EXCL), holding "nbdforge PID START": START is the
# kernel's start time of PID (field 22 of /proc/PID/stat), so a pid reused by another process is
# not taken for the holder. A holder that is gone is stale and the lock is taken over. Older forms:
# a bare pid (held while that process lives and names nbdforge), a directory with a pid file (held
# while that pid lives), an empty lock (a writer between create and write: held for 5 s).
# lk_start PID: the start time of PID in LK_ST; status 1 when PID is gone.
lk_start() {
  LK_ST=; lk_s=; read -r lk_s 2>/dev/null < "/proc/$1/stat"
  [ -n "$lk_s" ] || return 1
  set -- ${lk_s##*) }
  [ $# -ge 20 ] || return 1
  shift 19; LK_ST=$1
}
# lk_alive PID: is PID a live process? (kill -0 where /proc is missing)
lk_alive() { if [ -d /proc/self ]; then [ -d "/proc/$1" ]; else kill -0 "$1" 2>/dev/null; fi; }
# lk_young PATH: was PATH changed less than 5 s ago? (no when it is gone or stat cannot tell)
lk_young() {
  lk_m=$(stat -c %Y "$1" 2>/dev/null) || return 1
  case $lk_m in '' | *[!0-9]*) return 1 ;; esac
  [ $(($(date +%s) - lk_m)) -lt 5 ]
}
# lk_holder PATH: status 0 when the lock PATH is held, LK_PID naming the holder (empty: a writer
# that is starting); status 1 when it is stale or gone.
lk_holder() {
  LK_PID=; lk_c=; lk_f=$1
  [ -d "$1" ] && lk_f=$1/pid
  read -r lk_c 2>/dev/null < "$lk_f"
  case $lk_c in
  '') lk_young "$1"; return ;;
  *[!0-9]*) ;;
  *) LK_PID=$lk_c; lk_alive "$lk_c" || return 1; [ -d "$1" ] && return 0
    case $(tr '\0' ' ' 2>/dev/null < "/proc/$lk_c/cmdline") in *nbdforge*) return 0 ;; esac
    return 1 ;;
  esac
  case $lk_c in 'nbdforge '*' '*) ;; *) return 1 ;; esac
  lk_r=${lk_c#nbdforge }; LK_PID=${lk_r%% *}; lk_t=${lk_r#* }
  case $LK_PID in '' | *[!0-9]*) LK_PID=; return 1 ;; esac
  case $lk_t in '?') lk_alive "$LK_PID"; return ;; '' | *[!0-9]*) return 1 ;; esac
  lk_start "$LK_PID" && [ "$LK_ST" = "$lk_t" ]
}
# lk_take PATH [SECONDS]: take the lock PATH for this shell ($$), waiting up to SECONDS (default 60)
# for a live holder; 0 refuses at once. Status 0 taken; 1 held (LK_PID names the holder, empty when
# unknown); 2 it cannot be created or a stale one removed.
lk_take() {
  lk_w=$((${2:-60} * 10)); lk_i=0; lk_g=0
  lk_start $$; lk_me="nbdforge $$ ${LK_ST:-?}"
  while :; do
    set -C; { printf '%s\n' "$lk_me" > "$1"; } 2>/dev/null; lk_rc=$?; set +C
    [ $lk_rc = 0 ] && { LK_PID=; return 0; }
    if lk_holder "$1"; then
      [ $lk_i -ge $lk_w ] && return 1
      lk_i=$((lk_i + 1)); sleep 0.1
    else
      lk_g=$((lk_g + 1)); [ $lk_g -gt 20 ] && return 2
      if [ -e "$1" ] || [ -L "$1" ]; then rm -rf "$1" 2>/dev/null || return 2; fi
    fi
  done
}
# lk_drop PATH: release a lock taken with lk_take.
lk_drop() { rm -f "$1"; }
