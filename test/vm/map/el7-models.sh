# What CentOS 7's udev and lvmetad do around a map, modelled for the el7 userland guests, which have
# neither (sourced after checks.sh by the boots of test/el7-userland/guest.test.ts).

# udev + lvm2-pvscan@: on a CentOS 7 host, the uevents of a new device's partitions make udev run
# `pvscan --cache --activate ay MAJ:MIN`, which activates the VGs found there read-write before (or
# while) map's own LVM step runs. Modelled without a race: blockdev, which map runs as soon as the
# device is up to re-read its partitions, is wrapped so that the VGs on /dev/nbdN's partitions are
# activated read-write right after it.
udev_model_on() {
  mv /usr/sbin/blockdev /usr/sbin/blockdev.real
  cat > /usr/sbin/blockdev <<'EOS'
#!/bin/sh
/usr/sbin/blockdev.real "$@" || exit
case "$1 $2" in
  "--rereadpt /dev/nbd"*)
    d=${2#/dev/}
    lvm vgchange -ay --config "devices { filter=[ \"a|^/dev/$d(p[0-9]+)?\$|\", \"r|.*|\" ] obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } global { use_lvmpolld=0 } backup { backup=0 archive=0 }" >> /tmp/udev-model.log 2>&1
    echo "udev model: auto-activated the VGs on $d read-write" >> /tmp/udev-model.log ;;
esac
exit 0
EOS
  chmod 755 /usr/sbin/blockdev
}
udev_model_off() { mv /usr/sbin/blockdev.real /usr/sbin/blockdev; }

# lvmetad: CentOS 7's lvm.conf says use_lvmetad = 1 and lvmetad listens on /run/lvm/lvmetad.socket;
# this lvm build has lvmetad's client side but no daemon. Modelled: an lvm.conf with use_lvmetad = 1
# (LVM_SYSTEM_DIR), the socket's path present (a plain file: an lvm command that would use lvmetad
# warns and falls back to scanning), and a wrapper that logs every lvm command line, the commands map
# sends through its one lvm session included, so that a test can see which commands bypassed the
# cache (use_lvmetad=0) and which devices were rescanned into it (pvscan --cache MAJ:MIN).
lvmetad_model_on() {
  mkdir -p /etc/lvm /run/lvm
  printf 'global {\n\tuse_lvmetad = 1\n}\n' > /etc/lvm/lvm.conf
  : > /run/lvm/lvmetad.socket
  LVM_SYSTEM_DIR=/etc/lvm; export LVM_SYSTEM_DIR
  # (the real one keeps the name lvm: only a binary called lvm runs a command file)
  mkdir -p /run/lvm-real && mv /usr/sbin/lvm /run/lvm-real/lvm
  cat > /usr/sbin/lvm <<'EOS'
#!/bin/sh
echo "lvm $*" >> /tmp/lvm.log
if [ $# = 1 ] && [ -p "$1" ]; then tee -a /tmp/lvm.log < "$1" | /run/lvm-real/lvm /proc/self/fd/0; exit; fi
exec /run/lvm-real/lvm "$@"
EOS
  chmod 755 /usr/sbin/lvm
  : > /tmp/lvm.log
}
lvmetad_model_off() { mv /run/lvm-real/lvm /usr/sbin/lvm; rm -f /run/lvm/lvmetad.socket /etc/lvm/lvm.conf; unset LVM_SYSTEM_DIR; }
# Every LVM command map or unmap ran that reads PVs bypassed lvmetad (use_lvmetad=0 in its --config).
lvmetad_bypassed() {
  l=$(grep -E '(^|[ ])(pvs|vgs|lvs|vgchange|vgimportclone|vgrename) ' /tmp/lvm.log | grep -v 'use_lvmetad=0')
  [ -z "$l" ] || { echo "    did not bypass lvmetad: $l"; return 1; }
}
# pvscan --cache MAJ:MIN runs in the log (how many so far).
lvmetad_rescans() { grep -c '^lvm pvscan --cache [0-9][0-9]*:[0-9]' /tmp/lvm.log; }
