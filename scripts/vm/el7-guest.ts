/**
 * A test guest with a stock CentOS 7.9 host's userland, where it matters to what nbdforge emits: the
 * same Debian kernel as the other guests (no CentOS 7 kernel boots here: see docs/map.md), but
 *   /bin/sh            bash 4.2 (started as sh: POSIX mode, as on CentOS 7)
 *   lvm, dmsetup       lvm2 2.02.187 (static; no lvmetad, no udev: see test/el7-userland/guest.test.ts for
 *                      the test that models what those two do)
 *   losetup, blkid,
 *   mount, umount      util-linux 2.23.2
 *   kmod               kmod 20 (modprobe, insmod, depmod, modinfo, rmmod, lsmod)
 *   qemu-img, qemu-nbd the qemu 1.5.3 stand-in (scripts/vm/el7-standin/), the real binaries behind it
 *                      in /usr/libexec/nbdforge-qemu-real
 * all from scripts/el7-userland.ts (built from ../shared/el7-userland, cached). blockdev, mke2fs and
 * the busybox basics stay Debian's. That kmod build reads its configuration from /usr/etc (built with
 * the default prefix); CentOS's reads /etc, so /usr/etc/{modprobe,depmod}.d link there.
 */
import { path } from 'zx';
import { ensureEl7Userland } from '../el7-userland.ts';
import { prepareGuest, type Guest } from './harness.ts';
import { MAP_TOOLS } from './make-map-images.ts';

const STANDIN = path.resolve(import.meta.dirname, 'el7-standin');
const REAL_QEMU = '/usr/libexec/nbdforge-qemu-real';

/** Guest path -> host file, for InitramfsSpec.overlay. */
export function el7Overlay(): Record<string, string> {
  const bin = path.join(ensureEl7Userland(), 'bin');
  const at: Record<string, string> = {
    '/usr/bin/bash': 'bash',
    '/usr/sbin/lvm': 'lvm',
    '/usr/sbin/dmsetup': 'dmsetup',
    '/usr/sbin/losetup': 'losetup',
    '/usr/sbin/blkid': 'blkid',
    '/usr/bin/mount': 'mount',
    '/usr/bin/umount': 'umount',
    '/usr/bin/kmod': 'kmod',
  };
  const overlay = Object.fromEntries(Object.entries(at).map(([dest, name]) => [dest, path.join(bin, name)]));
  for (const q of ['qemu-img', 'qemu-nbd']) {
    overlay[`${REAL_QEMU}/${q}`] = `/usr/bin/${q}`; // the real one (its libraries come with the /usr/bin tool)
    overlay[`/usr/bin/${q}`] = path.join(STANDIN, q);
  }
  return overlay;
}

/** An el7-userland guest for RELEASE with the map tools (and MODULES, TOOLS beyond them). */
export async function prepareEl7Guest(opts: { release: string; modules?: string[]; tools?: string[] }): Promise<Guest> {
  const links = { '/usr/etc/modprobe.d': '/etc/modprobe.d', '/usr/etc/depmod.d': '/etc/depmod.d' };
  return prepareGuest({ release: opts.release, modules: opts.modules, tools: [...MAP_TOOLS, ...(opts.tools ?? [])], overlay: el7Overlay(), sh: '/usr/bin/bash', links });
}
