# Checks run inside the compose test guest (sourced by its boot script). Every check prints
# "CHECK ok: ..." or "CHECK FAIL: ..."; finish exits with the number of failures.
FAILS=0
ok()  { echo "CHECK ok: $*"; }
bad() { echo "CHECK FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
t() { cut -d' ' -f1 /proc/uptime; }
STATE=/var/lib/nbdforge
# run NAME SCRIPT: an emitted script; records in /tmp/NAME.out, people's text in /tmp/NAME.err, exit in RC
run() {
  t0=$(t)
  sh "/share/$2" > "/tmp/$1.out" 2> "/tmp/$1.err"; RC=$?
  echo "--- $1: sh $2 -> exit $RC in $(awk -v a="$t0" -v b="$(t)" 'BEGIN { printf "%.2f", b - a }')s"
  grep -v '^\[nbdforge\]' "/tmp/$1.err" | sed 's/^/    /'
  grep '^@nbdforge \(detail\|message\|outcome\)' "/tmp/$1.out" | sed 's/^/    /'
}
said() { grep -qF -- "$2" "/tmp/$1.out" "/tmp/$1.err"; }
expect_error() { # NAME SCRIPT RC TEXT
  run "$1" "$2"
  check "$1: exit $3" [ "$RC" = "$3" ]
  check "$1: says \"$4\"" said "$1" "$4"
}
content() { [ "$(cat "$1" 2> /dev/null)" = "$2" ]; }
sha() { s=$(sha256sum "$1"); echo "${s%% *}"; }
loops() { n=0; for p in /sys/block/loop*/loop/backing_file; do [ -e "$p" ] && n=$((n + 1)); done; echo $n; }
dms() { n=0; for p in /sys/block/dm-*; do [ -e "$p" ] && n=$((n + 1)); done; echo $n; }
leftovers() { ls "$STATE/composes" 2> /dev/null | wc -l; }
# Nothing left of any composite: no dm device, no loop device, no journal, head, tail or table file.
expect_clean() {
  check "$1: no device-mapper device" [ "$(dms)" = 0 ]
  check "$1: no loop device" [ "$(loops)" = 0 ]
  check "$1: no journal, head, tail or table file" [ "$(leftovers)" = 0 ]
  check "$1: no /dev/mapper node but control" [ "$(ls /dev/mapper 2> /dev/null | grep -vc '^control$')" = 0 ]
}
uuid_of() { blkid -p -o value -s UUID "$1"; }
# kill_tree PID: SIGKILL a process and all its descendants
kill_tree() {
  for c in $(awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2> /dev/null); do kill_tree "$c"; done
  kill -9 "$1" 2> /dev/null
}
finish() {
  echo "CHECKS: $FAILS failed"
  exit "$FAILS"
}
