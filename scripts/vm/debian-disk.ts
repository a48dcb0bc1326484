/**
 * A persistent Debian 12 root disk for guests that boot systemd, for tests that need what survives a
 * reboot (a kernel installed by dpkg, then booted). debootstrap minbase from the host's mirror plus
 * systemd, udev, kmod, curl, qemu-utils and dropbear; the real linux-image-<installed> package
 * (repacked without nbd.ko) installed by dpkg in a chroot; a minimal systemd setup (static network
 * 10.0.2.15 by systemd-networkd, dropbear on 22 for a throwaway key kept beside the image, the
 * host's share on /share over 9p, timers masked) and a console line when the system is up.
 * Written to an ext4 image with mke2fs -d (no loop device), cached by a hash of its inputs under
 * <cache>/vm/disks; each test boots a qcow2 overlay of it, so the cached image never changes.
 */
import { $, fs, path } from 'zx';
import { createHash } from 'node:crypto';
import { withFileLock } from '../../src/util/file-lock.ts';
import { hostMirror, stockKernelDeb, repackWithoutNbd, fakeInitramfsDeb } from './debian-packages.ts';

export interface DiskImage {
  /** Raw ext4 image: the guest's /dev/vda (read-only: boot an overlay). */
  image: string;
  /** Private key whose public half is root's authorized key in the image. */
  key: string;
  installed: string;
}

const PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'kmod', 'linux-base', 'curl', 'qemu-utils', 'dropbear-bin'];
const SIZE = '6G';
// what a test host does not need at boot (each costs seconds under TCG)
const MASKED = [
  ...['apt-daily', 'apt-daily-upgrade', 'dpkg-db-backup', 'e2scrub_all', 'fstrim'].map((t) => `${t}.timer`),
  ...['e2scrub_reap', 'getty@tty1', 'serial-getty@ttyS0', 'getty-static', 'systemd-timesyncd', 'systemd-update-utmp', 'systemd-update-utmp-runlevel'].map((s) => `${s}.service`),
  ...['dev-hugepages', 'dev-mqueue', 'sys-kernel-debug', 'sys-kernel-tracing', 'sys-kernel-config', 'sys-fs-fuse-connections'].map((m) => `${m}.mount`),
  ...['configfs', 'dm_mod', 'drm', 'efi_pstore', 'fuse'].map((m) => `modprobe@${m}.service`),
];

/** Files written into the root (path -> content). */
function configFiles(pub: string): Record<string, string> {
  return {
    '/etc/hostname': 'nbdforge-disk\n',
    '/etc/fstab': 'share /share 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n',
    '/etc/modules-load.d/nbdforge-test.conf': '9pnet_virtio\n',
    '/etc/systemd/network/10-nbdforge-test.network': '[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n',
    '/etc/systemd/system/nbdforge-test-ssh.service':
      '[Unit]\nDescription=dropbear for the nbdforge test\nAfter=network.target\n\n[Service]\nExecStartPre=/bin/mkdir -p /etc/dropbear\nExecStart=/usr/sbin/dropbear -F -E -R -s -p 22\n\n[Install]\nWantedBy=multi-user.target\n',
    // the test waits for this line; ordered after the boot guard (it exists once prepare-host ran)
    '/etc/systemd/system/nbdforge-test-ready.service':
      '[Unit]\nDescription=tell the nbdforge test the system is up\nAfter=nbdforge-test-ssh.service network-online.target nbdforge-nbd-guard.service\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c \'echo "NBDFORGE-DISK-READY $(uname -r) $(cut -d" " -f1 /proc/uptime)s" >/dev/console\'\n\n[Install]\nWantedBy=multi-user.target\n',
    '/root/.ssh/authorized_keys': pub,
  };
}

export async function ensureDiskImage(opts: { installed: string; cacheDir: string }): Promise<DiskImage> {
  const mirror = await hostMirror();
  const deb = path.basename(await stockKernelDeb(opts.installed, opts.cacheDir));
  const recipe = JSON.stringify({ v: 1, mirror, PACKAGES, SIZE, MASKED, deb, files: configFiles('KEY'), source: [build, repackWithoutNbd, fakeInitramfsDeb].map(String) });
  const key = createHash('sha256').update(recipe).digest('hex').slice(0, 16);
  const dir = path.join(opts.cacheDir, 'disks');
  const out: DiskImage = { image: path.join(dir, `${key}.img`), key: path.join(dir, `${key}.id`), installed: opts.installed };
  await fs.mkdirp(dir);
  return withFileLock(`${out.image}.lock`, async () => {
    if (!(await fs.pathExists(out.image))) await build(out, mirror, opts.cacheDir);
    return out;
  });
}

async function build(out: DiskImage, mirror: string, cacheDir: string): Promise<void> {
  const tmp = await fs.mkdtemp(`${out.image}.tmp-`);
  const root = path.join(tmp, 'root');
  try {
    await $({ quiet: true })`debootstrap --variant=minbase --include=${PACKAGES.join(',')} bookworm ${root} ${mirror}`;
    const inRoot = (...argv: string[]) => $({ quiet: true, env: { ...process.env, PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' } })`chroot ${root} ${argv}`;
    await fakeInitramfsDeb(path.join(root, 'tmp/initramfs.deb'));
    await repackWithoutNbd(out.installed, cacheDir, path.join(root, 'tmp/kernel.deb'));
    await inRoot('dpkg', '-i', '/tmp/initramfs.deb', '/tmp/kernel.deb');
    await fs.remove(path.join(root, 'tmp/initramfs.deb'));
    await fs.remove(path.join(root, 'tmp/kernel.deb'));

    await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${''} -C nbdforge-disk-test -f ${path.join(tmp, 'id')}`;
    const files = configFiles(await fs.readFile(path.join(tmp, 'id.pub'), 'utf8'));
    for (const [at, content] of Object.entries(files)) {
      await fs.mkdirp(path.join(root, path.dirname(at)));
      await fs.writeFile(path.join(root, at), content);
    }
    await fs.chmod(path.join(root, 'root/.ssh'), 0o700);
    await fs.chmod(path.join(root, 'root/.ssh/authorized_keys'), 0o600);
    await fs.mkdirp(path.join(root, 'share'));
    await inRoot('systemctl', 'enable', 'systemd-networkd.service', 'nbdforge-test-ssh.service', 'nbdforge-test-ready.service');
    await inRoot('systemctl', 'mask', ...MASKED);
    await inRoot('systemctl', 'set-default', 'multi-user.target');
    await inRoot('apt-get', 'clean');

    await $({ quiet: true })`mke2fs -q -t ext4 -L nbdforge-root -d ${root} ${path.join(tmp, 'disk.img')} ${SIZE}`;
    await fs.move(path.join(tmp, 'id'), out.key, { overwrite: true });
    await fs.chmod(out.key, 0o600);
    await fs.move(path.join(tmp, 'disk.img'), out.image);
  } finally {
    await fs.remove(tmp);
  }
}
