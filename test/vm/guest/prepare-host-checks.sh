# Checks run inside a test guest (sourced by a per-boot script that sets KREL, ART_SHA, DISK, DISK_SHA,
# DISK_BYTES). Every check prints "CHECK ok: ..." or "CHECK FAIL: ...", and finish exits with the
# number of failures, which the guest init reports as NBDFORGE-VM-EXIT.
FAILS=0
ok()  { echo "CHECK ok: $*"; }
bad() { echo "CHECK FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
t() { cut -d' ' -f1 /proc/uptime; }

# One hash over everything prepare-host may touch: file list and contents of the module tree and the
# modprobe/modules-load configuration, plus whether nbd is loaded.
snapshot() {
  {
    for d in /lib/modules /etc/modprobe.d /etc/modules-load.d /run/nbdforge-prepare-host.lock; do [ -e "$d" ] && find "$d" | sort; done
    find /lib/modules /etc/modprobe.d /etc/modules-load.d -type f 2>/dev/null | sort | while IFS= read -r f; do sha256sum "$f"; done
    [ -d /sys/module/nbd ] && echo nbd-loaded
  } | sha256sum | cut -d' ' -f1
}

# run_plan NAME SCRIPT: run an emitted script, keep its records in /tmp/NAME.out, rc in $RC, wall time in $SECS
run_plan() {
  t0=$(t)
  sh "/share/$2" > "/tmp/$1.out" 2> "/tmp/$1.err"; RC=$?
  SECS=$(awk -v a="$t0" -v b="$(t)" 'BEGIN { printf "%.2f", b - a }')
  echo "--- $1: sh $2 -> exit $RC in ${SECS}s"
  sed 's/^/    /' "/tmp/$1.out"
}
outcome() { sed -n 's/^@nbdforge outcome //p' "/tmp/$1.out"; }
step_is() { grep -Eq "^@nbdforge step $2 $3( |$)" "/tmp/$1.out"; }

# A plan that must be refused or fail, leaving the guest exactly as it was.
expect_refused_unchanged() { # NAME SCRIPT EXIT OUTCOME [STEP STATUS]
  before=$(snapshot)
  run_plan "$1" "$2"
  check "$1: exit $3" [ "$RC" = "$3" ]
  check "$1: outcome $4" [ "$(outcome "$1")" = "$4" ]
  [ -n "$5" ] && check "$1: step $5 $6" step_is "$1" "$5" "$6"
  check "$1: guest unchanged (module tree, modprobe.d, modules-load.d, nbd not loaded)" [ "$(snapshot)" = "$before" ]
  check "$1: nbd not loaded" [ ! -d /sys/module/nbd ]
}

# A plan that must find nothing to do (exit 0) and leave the guest exactly as it was.
expect_nothing_to_do() { # NAME SCRIPT MESSAGE-PATTERN
  before=$(snapshot)
  run_plan "$1" "$2"
  check "$1: exit 0" [ "$RC" = 0 ]
  check "$1: outcome nothing-to-do" [ "$(outcome "$1")" = nothing-to-do ]
  check "$1: says why" grep -Eq "^@nbdforge message .*$3" "/tmp/$1.out"
  check "$1: guest unchanged" [ "$(snapshot)" = "$before" ]
}

# Another run holds the lock (a live pid): refused, exit 3, guest unchanged; once its owner is gone the lock is taken over.
expect_locked_out() { # NAME SCRIPT
  sleep 60 & owner=$!
  mkdir /run/nbdforge-prepare-host.lock && echo "$owner" > /run/nbdforge-prepare-host.lock/pid
  before=$(snapshot)
  run_plan "$1" "$2"
  check "$1: exit 3" [ "$RC" = 3 ]
  check "$1: says another run holds the lock" grep -q "^@nbdforge message another run holds the lock /run/nbdforge-prepare-host.lock (pid $owner)" "/tmp/$1.out"
  check "$1: guest unchanged" [ "$(snapshot)" = "$before" ]
  kill "$owner"; wait "$owner" 2>/dev/null
}

expect_installed() { # NAME SCRIPT
  run_plan "$1" "$2"
  check "$1: exit 0" [ "$RC" = 0 ]
  check "$1: outcome changed" [ "$(outcome "$1")" = changed ]
  m=/lib/modules/$KREL/extra/nbd.ko
  s=$(sha256sum "$m" 2>/dev/null); check "$1: $m is the artifact (sha256 $(printf %.12s "$ART_SHA"))" [ "${s%% *}" = "$ART_SHA" ]
  check "$1: nbd is loaded (/proc/modules)" grep -q '^nbd ' /proc/modules
  check "$1: modprobe resolves nbd to extra/" [ "$(modinfo -n nbd)" = "$m" ]
  # the kernel checked vermagic and every CRC when it accepted the module; it logs a refusal otherwise
  check "$1: kernel accepted it (no vermagic/CRC complaint in dmesg)" sh -c '! dmesg | grep -Eq "version magic|disagrees about version|Exec format"'
  check "$1: loaded module is out-of-tree (taint O), i.e. ours not the distribution's" grep -q O /sys/module/nbd/taint
  check "$1: nbds_max=16" [ "$(cat /sys/module/nbd/parameters/nbds_max)" = 16 ]
  check "$1: max_part=15" [ "$(cat /sys/module/nbd/parameters/max_part)" = 15 ]
  check "$1: /dev/nbd0 and /dev/nbd15 exist" [ -b /dev/nbd0 -a -b /dev/nbd15 ]
  check "$1: options persisted" grep -qx 'options nbd nbds_max=16 max_part=15' /etc/modprobe.d/nbdforge-nbd.conf
  check "$1: load persisted" grep -qx nbd /etc/modules-load.d/nbdforge-nbd.conf
  check "$1: no leftovers (staged file, backups, lock)" sh -c '! ls -a /lib/modules /lib/modules/*/extra /etc/modprobe.d /etc/modules-load.d /run | grep -Eq "nbdforge-(new|prev)|prepare-host.lock"'
}

expect_noop() { # NAME SCRIPT
  before=$(snapshot)
  run_plan "$1" "$2"
  check "$1: exit 0" [ "$RC" = 0 ]
  check "$1: outcome unchanged" [ "$(outcome "$1")" = unchanged ]
  check "$1: no step changed anything" sh -c "! grep -q '^@nbdforge step .* done\$' /tmp/$1.out"
  check "$1: guest unchanged" [ "$(snapshot)" = "$before" ]
}

expect_serves_qcow2() {
  t0=$(t)
  check "qemu-nbd --connect /dev/nbd0 (read-only qcow2)" qemu-nbd --connect=/dev/nbd0 --read-only --format=qcow2 "/share/$DISK"
  i=0; while [ ! -e /sys/block/nbd0/pid ] || [ "$(cat /sys/block/nbd0/size)" = 0 ]; do [ $i -ge 100 ] && break; sleep 0.1; i=$((i + 1)); done
  check "/dev/nbd0 is $DISK_BYTES bytes" [ "$(blockdev --getsize64 /dev/nbd0)" = "$DISK_BYTES" ]
  s=$(sha256sum /dev/nbd0); check "/dev/nbd0 content is the image's (sha256)" [ "${s%% *}" = "$DISK_SHA" ]
  check "qemu-nbd --disconnect" qemu-nbd --disconnect /dev/nbd0
  echo "--- qcow2 over /dev/nbd0 in $(awk -v a="$t0" -v b="$(t)" 'BEGIN { printf "%.2f", b - a }')s"
}

finish() {
  echo "CHECKS: $FAILS failed"
  exit "$FAILS"
}
