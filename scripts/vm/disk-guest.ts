/**
 * Boot the persistent Debian disk (debian-disk.ts) with systemd as PID 1, as often as a test needs,
 * into any kernel the disk has installed: a qcow2 overlay of the cached image keeps every change
 * from one boot to the next (and none in the cache). The kernel is booted directly with the
 * release's vmlinuz (the bytes its package installs in the disk's /boot) and a harness initramfs
 * that mounts /dev/vda and hands over to systemd. The test drives the guest over ssh (dropbear on a
 * loopback-only forward) and powers it off with systemctl.
 */
import { $, fs, path } from 'zx';
import { ensureKernel } from './kernels.ts';
import { buildInitramfs } from '../../src/guest/initramfs.ts';
import { bootGuest, qemuValue, type BootResult } from '../../src/guest/qemu.ts';
import { freePort, sshOptions } from './ssh.ts';
import { ensureDiskImage, type DiskImage } from './debian-disk.ts';

/** What the initramfs loads to mount the root disk (9p comes with every harness initramfs). */
const ROOT_MODULES = ['virtio_blk', 'ext4', 'crc32c_generic'];
const DISK_INIT = new URL('./disk-init.sh', import.meta.url);
export const READY = 'NBDFORGE-DISK-READY';

export interface Booted {
  /** The console line the disk prints when systemd reached multi-user (kernel release, uptime). */
  ready: string;
  sshPort: number;
  /** Run a command line in the guest as root (its login shell), INPUT on stdin; never throws for its exit status. */
  sh(command: string, input?: string): Promise<{ code: number; out: string; err: string }>;
  /** systemctl poweroff, then the boot's result (console, time). */
  poweroff(): Promise<BootResult>;
}

export interface DiskGuest {
  disk: DiskImage;
  overlay: string;
  boot(release: string, opts?: { logFile?: string; timeoutMs?: number }): Promise<Booted>;
}

export async function diskGuest(opts: { installed: string; cacheDir: string; share: string }): Promise<DiskGuest> {
  const disk = await ensureDiskImage({ installed: opts.installed, cacheDir: opts.cacheDir });
  const overlay = path.join(opts.share, '..', `${path.basename(opts.share)}-root.qcow2`);
  await $({ quiet: true })`qemu-img create -q -f qcow2 -F raw -b ${disk.image} ${overlay}`;
  return { disk, overlay, boot: (release, b = {}) => bootDisk(disk, overlay, opts, release, b) };
}

async function bootDisk(disk: DiskImage, overlay: string, opts: { cacheDir: string; share: string }, release: string, b: { logFile?: string; timeoutMs?: number }): Promise<Booted> {
  const kernel = await ensureKernel(release, opts.cacheDir);
  const initramfs = await buildInitramfs({ kernel, modules: ROOT_MODULES, init: DISK_INIT, cacheDir: opts.cacheDir });
  const sshPort = await freePort();
  let ready!: (line: string) => void;
  const isReady = new Promise<string>((r) => (ready = r));
  const booting = bootGuest({
    kernel,
    initramfs,
    share: opts.share,
    script: 'none',
    modules: ROOT_MODULES,
    forwards: [{ hostPort: sshPort, guestPort: 22 }],
    extraArgs: ['-drive', `file=${qemuValue(overlay)},if=virtio,format=qcow2,cache=unsafe`],
    logFile: b.logFile,
    timeoutMs: b.timeoutMs ?? 600_000,
    onLine: (l) => l.includes(READY) && ready(l.slice(l.indexOf(READY)).trim()),
  });
  const line = await Promise.race([isReady, booting.then((r) => Promise.reject(new Error(`guest ${release} ended before it was up${r.timedOut ? ' (timed out)' : ''}:\n${r.console.slice(-4000)}`)))]);
  const ssh = sshOptions(disk.key, sshPort).flatMap((o) => ['-o', o]);
  const sh = async (command: string, input?: string) => {
    const r = await $({ nothrow: true, quiet: true, input: input ?? '' })`ssh ${ssh} root@127.0.0.1 ${`PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH; ${command}`}`;
    return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
  };
  return {
    ready: line,
    sshPort,
    sh,
    poweroff: async () => {
      await sh('systemctl --no-block poweroff');
      return booting;
    },
  };
}

export async function removeOverlay(g: DiskGuest | undefined): Promise<void> {
  if (g) await fs.remove(g.overlay);
}
