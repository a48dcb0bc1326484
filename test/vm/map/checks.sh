# Checks run inside a map test guest (sourced by each boot's script). Every check prints
# "CHECK ok: ..." or "CHECK FAIL: ..."; finish exits with the number of failures.
FAILS=0
ok()  { echo "CHECK ok: $*"; }
bad() { echo "CHECK FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
t() { cut -d' ' -f1 /proc/uptime; }
STATE=/var/lib/nbdforge
mkdir -p /var/tmp   # a real host has it: qemu-nbd --snapshot puts its overlay there

# run NAME SCRIPT: an emitted script; records in /tmp/NAME.out, people's text in /tmp/NAME.err, exit in RC
run() {
  t0=$(t)
  sh "/share/$2" > "/tmp/$1.out" 2> "/tmp/$1.err"; RC=$?
  echo "--- $1: sh $2 -> exit $RC in $(awk -v a="$t0" -v b="$(t)" 'BEGIN { printf "%.2f", b - a }')s"
  grep -v '^\[nbdforge\]' "/tmp/$1.err" | sed 's/^/    /'
  grep '^@nbdforge \(detail\|message\|outcome\)' "/tmp/$1.out" | sed 's/^/    /'
}
said() { grep -qF -- "$2" "/tmp/$1.out" "/tmp/$1.err"; }
content() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
connected() { n=0; for p in /sys/block/nbd*/pid; do [ -e "$p" ] && n=$((n + 1)); done; echo $n; }
loops() { n=0; for p in /sys/block/loop*/loop/backing_file; do [ -e "$p" ] && n=$((n + 1)); done; echo $n; }
dmcount() { dmsetup ls 2>/dev/null | grep -vc 'No devices found'; }
mounts() { grep -c ' /mnt/nbdforge' /proc/self/mounts; }
journals() { ls "$STATE/maps/" 2>/dev/null | grep -c 'jsonl$'; }
sha() { s=$(sha256sum "$1"); echo "${s%% *}"; }
vg_active() { [ -b "/dev/mapper/$1-root" ]; }
mopt() { o=$(awk -v d="$1" '$2 == d { print $4 }' /proc/self/mounts); shift; for w; do case ",$o," in *",${w%,}"[,]*) ;; *) echo "    options: $o"; return 1 ;; esac; done; }

# Nothing at all left: no nbd connected, no loop attached, no dm device, no mount, no journal, no dir.
expect_clean() {
  check "$1: no nbd device connected" [ "$(connected)" = 0 ]
  check "$1: no loop device attached" [ "$(loops)" = 0 ]
  check "$1: no device-mapper device" [ "$(dmcount)" = 0 ]
  check "$1: nothing mounted under /mnt/nbdforge" [ "$(mounts)" = 0 ]
  check "$1: no journal left" [ "$(journals)" = 0 ]
  check "$1: no mount directory left" [ ! -e /mnt/nbdforge ]
}
# A refused or failed map: exit code, message, and nothing left of it.
expect_error() { # NAME SCRIPT RC TEXT
  run "$1" "$2"
  check "$1: exit $3" [ "$RC" = "$3" ]
  check "$1: says \"$4\"" said "$1" "$4"
}
# kill_tree PID: SIGKILL a process and all its descendants (not daemons: they re-parent to init)
kill_tree() {
  for c in $(awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null); do kill_tree "$c"; done
  kill -9 "$1" 2>/dev/null
}
finish() {
  echo "CHECKS: $FAILS failed"
  exit "$FAILS"
}
