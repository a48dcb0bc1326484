/**
 * Shell run over ssh in the persistent-disk guest of kernel-hook-disk.test.ts (root's shell, bash).
 */
import { hookLayout } from '../../../src/prepare-host/kernel-hook/layout.ts';

export const HOOK = hookLayout().postinst;

/**
 * The site's URL as prepare-host saw it (http://127.0.0.1:PORT) must work in the guest too:
 * systemd-socket-proxyd on the guest's loopback, forwarding to 10.0.2.2:PORT (this machine).
 */
export function proxyUnits(port: number): string {
  return [
    `printf '%s\\n' '[Socket]' 'ListenStream=127.0.0.1:${port}' '' '[Install]' 'WantedBy=sockets.target' > /etc/systemd/system/nbdforge-test-site.socket`,
    `printf '%s\\n' '[Unit]' 'Requires=nbdforge-test-site.socket' 'After=nbdforge-test-site.socket' '' '[Service]' 'ExecStart=/lib/systemd/systemd-socket-proxyd 10.0.2.2:${port}' > /etc/systemd/system/nbdforge-test-site.service`,
    'systemctl enable --now nbdforge-test-site.socket',
  ].join(' && ');
}

/** Every path prepare-host and the hook may touch, with modes and contents, and whether nbd is loaded. */
const WATCHED = '/etc/kernel /etc/nbdforge /etc/systemd/system /etc/modprobe.d /etc/modules-load.d /var/lib/nbdforge /lib/modules/*/extra /lib/modules/*/weak-updates';
export const SNAPSHOT = `{ find ${WATCHED} -printf '%p %y %m\\n' 2>/dev/null; find ${WATCHED} -type f -exec sha256sum {} + 2>/dev/null; sha256sum /lib/modules/*/modules.dep; grep -c '^nbd ' /proc/modules; } | LC_ALL=C sort`;

/** A qcow2 with a 1 MiB pattern at 1 MiB (qemu-io), attached with qemu-nbd -c, read back through /dev/nbd0. */
export const PATTERN_CHECK = `set -e
rm -f /root/t.qcow2
qemu-img create -q -f qcow2 /root/t.qcow2 64M
qemu-io -c 'write -P 0xa5 1M 1M' /root/t.qcow2 >/dev/null
qemu-nbd -c /dev/nbd0 /root/t.qcow2
i=0; while [ "$(cat /sys/block/nbd0/size)" = 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
size=$(cat /sys/block/nbd0/size)
n=$(dd if=/dev/nbd0 bs=1M skip=1 count=1 2>/dev/null | wc -c)
a=$(dd if=/dev/nbd0 bs=1M skip=1 count=1 2>/dev/null | tr -d '\\245' | wc -c)
z=$(dd if=/dev/nbd0 bs=1M count=1 2>/dev/null | tr -d '\\000' | wc -c)
qemu-nbd -d /dev/nbd0 >/dev/null
[ "$size" = 131072 ] && [ "$n" = 1048576 ] && [ "$a" = 0 ] && [ "$z" = 0 ]
echo "pattern read back through /dev/nbd0 ($size sectors)"`;

/**
 * For docs/BENCHMARKS.md: the hook's run for kernel K as dpkg runs it (fetch, checks, install, depmod)
 * against the same file copied by hand plus depmod; the hook's own install is restored after.
 */
export function BENCH(k: string): string {
  const m = `/lib/modules/${k}/extra/nbd.ko`;
  return `set -e; cp ${m} /tmp/nbd.ko; ${HOOK} --remove ${k} 2>/dev/null
t0=$(date +%s.%N); ${HOOK} ${k} /boot/vmlinuz-${k} 2>/dev/null; t1=$(date +%s.%N)
${HOOK} --remove ${k} 2>/dev/null
t2=$(date +%s.%N); mkdir -p /lib/modules/${k}/extra && cp /tmp/nbd.ko ${m} && depmod -a ${k}; t3=$(date +%s.%N)
rm -f ${m}; ${HOOK} ${k} /boot/vmlinuz-${k} 2>/dev/null; rm -f /tmp/nbd.ko
d() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
echo "BENCH hook $(d $t0 $t1) s, by hand (cp + depmod) $(d $t2 $t3) s"`;
}
