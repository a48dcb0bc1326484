/**
 * Real Debian kernels for QEMU guests: discovered from apt, downloaded with `apt-get download`,
 * unpacked once into the cache with nbd.ko removed and depmod run. Nothing here touches the host's
 * own /boot or /lib/modules.
 */
import { $, fs, path } from 'zx';
import { withFileLock } from '../../src/util/file-lock.ts';

export interface GuestKernel {
  release: string;
  vmlinuz: string;
  /** Root of the unpacked package: <root>/lib/modules/<release>/... */
  root: string;
  moduleDir: string;
}

const IMAGE = /^linux-image-(6\.1\.0-(\d+)-amd64)$/;

/** Kernel releases apt can fetch, oldest first (e.g. 6.1.0-47-amd64 ... 6.1.0-56-amd64). */
export async function availableReleases(): Promise<string[]> {
  let out = (await $({ quiet: true })`apt-cache pkgnames linux-image-6.1.0-`).stdout;
  if (!out.trim()) {
    // A fresh machine may never have fetched its package lists.
    await $({ quiet: true })`apt-get update -q`;
    out = (await $({ quiet: true })`apt-cache pkgnames linux-image-6.1.0-`).stdout;
  }
  return out
    .split('\n')
    .map((l) => IMAGE.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[2]) - Number(b[2]))
    .map((m) => m[1]);
}

/** The kernels a VM test boots: NBDFORGE_VM_KERNELS (comma list), else the newest and the oldest apt offers. */
export async function testReleases(env: NodeJS.ProcessEnv = process.env): Promise<{ newest: string; older: string }> {
  const given = env.NBDFORGE_VM_KERNELS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (given && given.length >= 2) return { newest: given[0], older: given[1] };
  const all = await availableReleases();
  if (all.length < 2) throw new Error(`apt offers ${all.length} linux-image-6.1.0-*-amd64 packages; the VM tests need two (run apt-get update?)`);
  return { newest: all[all.length - 1], older: all[0] };
}

const inflight = new Map<string, Promise<GuestKernel>>();

/**
 * Download and unpack linux-image-<release> into <cacheDir>/kernels/<release> (once). Concurrent
 * callers share one unpack: in this process through a shared promise, across processes through a
 * lock file (a fresh cache once lost /boot to two unpacks sharing one temporary directory).
 */
export function ensureKernel(release: string, cacheDir: string): Promise<GuestKernel> {
  const key = `${cacheDir}\0${release}`;
  let p = inflight.get(key);
  if (!p) {
    p = withFileLock(path.join(cacheDir, 'kernels', `${release}.lock`), () => unpackKernel(release, cacheDir)).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

async function unpackKernel(release: string, cacheDir: string): Promise<GuestKernel> {
  const root = path.join(cacheDir, 'kernels', release);
  const k: GuestKernel = { release, vmlinuz: path.join(root, 'boot', `vmlinuz-${release}`), root, moduleDir: path.join(root, 'lib', 'modules', release) };
  if (await fs.pathExists(path.join(root, '.complete'))) return k;
  const debs = path.join(cacheDir, 'debs');
  await fs.mkdirp(debs);
  let deb = (await fs.readdir(debs)).find((f: string) => f.startsWith(`linux-image-${release}_`) && f.endsWith('.deb'));
  if (!deb) {
    await $({ cwd: debs, quiet: true })`apt-get download ${'linux-image-' + release}`;
    deb = (await fs.readdir(debs)).find((f: string) => f.startsWith(`linux-image-${release}_`) && f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download linux-image-${release} produced no .deb in ${debs}`);
  }
  const tmp = await fs.mkdtemp(`${root}.tmp-`);
  await $({ quiet: true })`dpkg-deb -x ${path.join(debs, deb)} ${tmp}`;
  // The point of every guest: a kernel without its distribution's nbd.ko, like a stock CentOS 7 one.
  await fs.remove(path.join(tmp, 'lib', 'modules', release, 'kernel', 'drivers', 'block', 'nbd.ko'));
  await $({ quiet: true })`depmod -b ${tmp} ${release}`;
  if (!(await fs.pathExists(path.join(tmp, 'boot', `vmlinuz-${release}`)))) throw new Error(`${deb} holds no boot/vmlinuz-${release}`);
  await fs.writeFile(path.join(tmp, '.complete'), `${deb}\n`);
  await fs.remove(root);
  await fs.rename(tmp, root);
  return k;
}
