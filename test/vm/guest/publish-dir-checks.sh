# Checks for the publish-dir vm test, sourced by each boot's script (which sets KREL, ART_SHA, BASE,
# the published tree's URL on this machine as the guest sees it). Reuses prepare-host's snapshot/check.
. /share/prepare-host-checks.sh

# QEMU user networking: the guest is 10.0.2.15, the host's loopback answers at 10.0.2.2.
net_up() {
  ip link set lo up && ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
}

# piped NAME FETCH SHELL [ARGS...]: `FETCH URL/install.sh | SHELL -s -- ARGS`, rc in $RC, output in /tmp/NAME.out
piped() {
  n=$1; f=$2; s=$3; shift 3
  case "$f" in
    curl) curl -fsSL "$BASE/good/install.sh" ;;
    wget) wget -qO- "$BASE/good/install.sh" ;;
  esac | $s -s -- "$@" > "/tmp/$n.out" 2>&1; RC=$?
  echo "--- $n: $f | $s $* -> exit $RC"
  sed 's/^/    /' "/tmp/$n.out"
}

# expect_install_refused NAME PATTERN FETCH SHELL [ARGS...]: exit 3, says PATTERN, guest unchanged
expect_install_refused() {
  n=$1; p=$2; shift 2
  before=$(snapshot)
  piped "$n" "$@"
  check "$n: exit 3" [ "$RC" = 3 ]
  check "$n: says why" grep -q "$p" "/tmp/$n.out"
  check "$n: guest unchanged" [ "$(snapshot)" = "$before" ]
  check "$n: nbd not loaded" [ ! -d /sys/module/nbd ]
}

# expect_install_loaded NAME FETCH SHELL [ARGS...]: installed, loaded, the bytes the store holds
expect_install_loaded() {
  n=$1; shift
  piped "$n" "$@"
  check "$n: exit 0" [ "$RC" = 0 ]
  check "$n: outcome changed" grep -q '^@nbdforge outcome changed' "/tmp/$n.out"
  check "$n: nbd loaded" [ -d /sys/module/nbd ]
  check "$n: /dev/nbd0 is a block device" [ -b /dev/nbd0 ]
  check "$n: modprobe resolves nbd to extra/nbd.ko" [ "$(modinfo -n nbd)" = "/lib/modules/$KREL/extra/nbd.ko" ]
  s=$(sha256sum "/lib/modules/$KREL/extra/nbd.ko"); check "$n: installed module is the published artifact" [ "${s%% *}" = "$ART_SHA" ]
  check "$n: nbds_max from the plan" [ "$(cat /sys/module/nbd/parameters/nbds_max)" = 16 ]
  check "$n: persisted for boot" grep -qx nbd /etc/modules-load.d/nbdforge-nbd.conf
  check "$n: no temporary files left" [ -z "$(ls /tmp | grep nbdforge-install)" ]
}
