# Checks run inside the compose test guest (sourced by its boot script): the map guests' check
# library (ok/bad/check, run/said/expect_error, loops, sha, kill_tree, finish), plus what only a
# composite needs. The compose test copies map's library to /share/map-checks.sh.
. /share/map-checks.sh
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
